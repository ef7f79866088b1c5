// RAII file descriptors and the few POSIX calls we need with errors as values.
#pragma once

#include <llmpt/error.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace llmpt::util {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    int release() noexcept { int f = fd_; fd_ = -1; return f; }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

// ENOSPC/EDQUOT/EROFS/EACCES/EPERM map to errc::disk; the rest to failure.
Error errno_error(int err, std::string_view what, const std::string& context);

// New files get `mode` & ~umask: 0666 gives what huggingface_hub gives its
// blobs and refs (0644 at umask 022, 0664 at 002, 0600 at 077).
Result<UniqueFd> open_fd(const std::filesystem::path& path, int flags, mode_t mode = 0666);
Result<std::uint64_t> file_size(int fd);
// The size of the regular file at `path` (symlinks followed); nullopt if
// there is none.
std::optional<std::uint64_t> regular_file_size(const std::filesystem::path& path);
Status pwrite_all(int fd, const void* data, std::size_t n, std::uint64_t offset,
                  const std::string& context);
Status write_file_atomic(const std::filesystem::path& path, std::string_view content);
Result<std::string> read_small_file(const std::filesystem::path& path, std::size_t limit);

// 8 random lower-case hex characters, for temp file names.
std::string random_hex8();

// link(2) errors that mean "not here" rather than "not allowed": the two
// paths are on different file systems, theirs has no hard links, or the
// file has as many links as it may.
bool cannot_link_here(int err);

// Unlinks `path` if it is another name of `other`'s inode; true if it did.
bool unlink_if_same_file(const std::filesystem::path& path, const std::filesystem::path& other);

// Removes the empty folders under `root` and `root` itself if empty.
void remove_empty_dirs(const std::filesystem::path& root);

} // namespace llmpt::util
