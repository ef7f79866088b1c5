// The seeder daemon (`llmpt daemon`): seeds and publishes every complete snapshot of
// its caches, and answers a local control API (HTTP/JSON on a Unix socket).
//
// One daemon per cache: it holds `{cache}/.locks/llmpt-daemon.lock` (flock)
// whose text says who holds it (pid and socket), so a second daemon is
// refused by name and `llmpt daemon stop|status` find the first.
#pragma once

#include <llmpt/error.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llmpt::daemon {

struct Options {
    std::vector<std::filesystem::path> caches; // at least one
    std::string tracker;                       // empty: seed without announcing
    std::string publish_token;
    std::string listen = "0.0.0.0:6881";       // peers (HOST:PORT)
    std::filesystem::path socket;              // control API; empty: default_socket(caches[0])
    std::chrono::seconds scan_interval{10};    // new/deleted/changed snapshots noticed within this
    std::chrono::seconds tracker_check{60};    // a tracker that lost a torrent gets it again within this
    std::function<void(const std::string&)> log; // one line per event
};

// What the lock file of a cache says about the daemon holding it.
struct Holder {
    long pid = 0;
    std::filesystem::path socket;
};

std::filesystem::path lock_path(const std::filesystem::path& cache);
// The daemon holding `cache`, if one runs (the lock is held).
std::optional<Holder> holder(const std::filesystem::path& cache);
// $XDG_RUNTIME_DIR/llmpt/daemon-{hash of the cache path}.sock, else the
// same under /tmp/llmpt-{uid}/ (a folder of ours, mode 0700).
Result<std::filesystem::path> default_socket(const std::filesystem::path& cache);

// One request to a daemon's control API (HTTP/JSON on its Unix socket).
struct ApiResponse {
    int status = 0;
    std::string body;
};
Result<ApiResponse> call(const std::filesystem::path& socket, const std::string& method, const std::string& path,
                         const std::string& body = {},
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

class Daemon {
public:
    // Takes the locks and opens the control socket; scanning starts in run().
    static Result<std::unique_ptr<Daemon>> start(Options options);
    virtual ~Daemon() = default;
    virtual const std::filesystem::path& socket() const = 0;
    // Scans, seeds and maintains until `stop` is set; then stops seeding,
    // closes the socket and releases the locks (bounded).
    virtual void run(const std::atomic<bool>& stop) = 0;
};

} // namespace llmpt::daemon
