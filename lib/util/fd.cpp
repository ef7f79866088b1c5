#include "util/fd.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace llmpt::util {

Error errno_error(int err, std::string_view what, const std::string& context) {
    const bool disk = err == ENOSPC || err == EDQUOT || err == EROFS || err == EACCES ||
                      err == EPERM || err == EFBIG;
    std::string msg(what);
    msg += ": ";
    msg += std::strerror(err);
    return Error(disk ? errc::disk : errc::failure, std::move(msg), context);
}

Result<UniqueFd> open_fd(const std::filesystem::path& path, int flags, mode_t mode) {
    int fd;
    do fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno_error(errno, "open", path.string());
    return UniqueFd(fd);
}

Result<std::uint64_t> file_size(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return errno_error(errno, "fstat", "fd");
    return static_cast<std::uint64_t>(st.st_size);
}

std::optional<std::uint64_t> regular_file_size(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    return static_cast<std::uint64_t>(st.st_size);
}

Status pwrite_all(int fd, const void* data, std::size_t n, std::uint64_t offset,
                  const std::string& context) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno_error(errno, "write", context);
        }
        p += w;
        n -= static_cast<std::size_t>(w);
        offset += static_cast<std::uint64_t>(w);
    }
    return ok();
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view content) {
    const auto tmp = path.string() + "." + random_hex8() + ".tmp";
    auto fd = open_fd(tmp, O_WRONLY | O_CREAT | O_EXCL);
    if (!fd) return fd.error();
    if (auto st = pwrite_all(fd->get(), content.data(), content.size(), 0, path.string()); !st) {
        ::unlink(tmp.c_str());
        return st;
    }
    fd->reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return errno_error(err, "rename", path.string());
    }
    return ok();
}

Result<std::string> read_small_file(const std::filesystem::path& path, std::size_t limit) {
    auto fd = open_fd(path, O_RDONLY);
    if (!fd) return fd.error();
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd->get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error(errno, "read", path.string());
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > limit) return Error(errc::failure, "file too large", path.string());
    }
    return out;
}

bool cannot_link_here(int err) {
    return err == EXDEV || err == EPERM || err == ENOTSUP || err == EOPNOTSUPP || err == EMLINK || err == ENOSYS;
}

bool unlink_if_same_file(const std::filesystem::path& path, const std::filesystem::path& other) {
    struct stat a {}, b {};
    if (::lstat(path.c_str(), &a) != 0 || ::stat(other.c_str(), &b) != 0) return false;
    if (!S_ISREG(a.st_mode) || a.st_ino != b.st_ino || a.st_dev != b.st_dev) return false;
    return ::unlink(path.c_str()) == 0;
}

void remove_empty_dirs(const std::filesystem::path& root) {
    std::error_code ec;
    if (!std::filesystem::is_directory(root, ec)) return;
    for (const auto& e : std::filesystem::directory_iterator(root, ec))
        if (e.is_directory(ec) && !e.is_symlink(ec)) remove_empty_dirs(e.path());
    ::rmdir(root.c_str()); // fails unless empty
}

std::string random_hex8() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char* digits = "0123456789abcdef";
    std::string out(8, '0');
    auto v = rng();
    for (auto& c : out) {
        c = digits[v & 15];
        v >>= 4;
    }
    return out;
}

} // namespace llmpt::util
