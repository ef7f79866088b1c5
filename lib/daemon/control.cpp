#include "daemon/control.hpp"

#include <llmpt/daemon.hpp>

#include "http/client.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace llmpt::daemon {

namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path lock_path(const fs::path& cache) { return cache / ".locks" / "llmpt-daemon.lock"; }

std::optional<Holder> holder(const fs::path& cache) {
    auto fd = util::open_fd(lock_path(cache), O_RDONLY);
    if (!fd) return std::nullopt;
    if (::flock(fd->get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt; // nobody holds it
    char buf[4096];
    const ssize_t n = ::pread(fd->get(), buf, sizeof buf - 1, 0);
    if (n <= 0) return Holder{};
    const auto j = json::parse(std::string(buf, static_cast<std::size_t>(n)), nullptr, false);
    Holder h;
    if (j.is_object()) {
        h.pid = j.value("pid", 0L);
        h.socket = j.value("socket", std::string());
    }
    return h;
}

Result<std::vector<cache::FileLock>> take_locks(const std::vector<fs::path>& caches, const fs::path& socket) {
    std::vector<cache::FileLock> locks;
    for (const auto& c : caches) {
        auto l = cache::FileLock::try_lock(lock_path(c));
        if (!l) return l.error();
        if (!l->held()) {
            const auto h = holder(c);
            return Error(errc::failure,
                         "a daemon already serves this cache" +
                             (h && h->pid ? fmt::format(" (pid {}, socket {})", h->pid, h->socket.string())
                                          : std::string()),
                         c.string());
        }
        const auto text = json{{"pid", ::getpid()}, {"socket", socket.string()}}.dump() + "\n";
        if (::ftruncate(l->fd(), 0) != 0 || ::pwrite(l->fd(), text.data(), text.size(), 0) < 0)
            return util::errno_error(errno, "cannot write", lock_path(c).string());
        locks.push_back(std::move(*l));
    }
    return locks;
}

Result<fs::path> default_socket(const fs::path& cache) {
    std::error_code ec;
    const auto abs = fs::weakly_canonical(fs::absolute(cache, ec), ec);
    const auto name = "daemon-" + util::sha256_hex(abs.string()).substr(0, 16) + ".sock";
    fs::path dir;
    if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x) dir = fs::path(x) / "llmpt";
    else dir = fs::path("/tmp") / fmt::format("llmpt-{}", ::getuid());
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return util::errno_error(errno, "cannot create", dir.string());
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 077))
        return Error(errc::failure, "refusing a runtime folder that is not ours alone (owner, mode 0700)", dir.string());
    return dir / name;
}

Result<ApiResponse> call(const fs::path& socket, const std::string& method, const std::string& path,
                         const std::string& body, std::chrono::milliseconds timeout) {
    http::Request req;
    req.method = method;
    req.url = "http://llmpt" + path;
    req.unix_socket = socket.string();
    req.body = body;
    if (!body.empty()) req.headers.push_back("Content-Type: application/json");
    req.connect_timeout = std::chrono::seconds(2);
    req.total_timeout = timeout;
    auto r = http::perform(req);
    if (!r) return r.error();
    return ApiResponse{r->status, std::move(r->body)};
}

} // namespace llmpt::daemon
