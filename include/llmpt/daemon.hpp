// The seeder daemon (`llmpt daemon`): seeds and publishes every complete snapshot of
// its caches, and answers a local control API (HTTP/JSON on a Unix socket).
//
// One daemon per cache: it holds `{cache}/.locks/llmpt-daemon.lock` (flock)
// whose text says who holds it (pid and socket), so a second daemon is
// refused by name and `llmpt daemon stop|status` find the first.
#pragma once

#include <llmpt/download.hpp>
#include <llmpt/error.hpp>
#include <llmpt/settings.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
    std::filesystem::path state_dir;           // tasks.json; empty: {caches[0]}/.locks/llmpt-daemon
    int max_running = 2;                       // download tasks at once; the others wait queued
    std::string endpoint;                      // the Hub (file lists, the HF endpoint's upstream); empty: HF_ENDPOINT
    // The HF endpoint (HF_ENDPOINT=http://HOST:PORT for any Hub client;
    // docs/design.md, "The HF endpoint"). Empty: none. When the default
    // address is taken the daemon runs without it (a warning); an address
    // given explicitly must be free.
    std::string hub_listen = default_hub_listen;
    static constexpr const char* default_hub_listen = "127.0.0.1:8765";
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

// A download handed to a daemon: the fields of `llmpt download`, as the JSON
// body of POST /v1/tasks. Empty fields take the daemon's defaults (its first
// cache, its environment's endpoint, token and tracker).
struct TaskRequest {
    std::string repo;
    RepoType repo_type = RepoType::model;
    std::string revision = "main";
    std::vector<std::string> files, include, exclude;
    std::string cache_dir, local_dir;
    std::string endpoint, token, tracker;
    bool no_p2p = false, no_webseed = false;
    int p2p_timeout = 0;          // seconds; 0: the default
    int connections = 0;          // 0: the default
    std::uint64_t chunk_size = 0; // MiB; 0: the default

    std::string to_json() const;
    // errc::usage naming the field: unknown fields, wrong types, a missing repo.
    static Result<TaskRequest> parse(std::string_view json);
    // The download it asks for, on top of `base` (errc::usage if a value is out of range).
    Status apply(Settings& settings, DownloadRequest& download) const;
};

// A task's life: queued -> running -> done | failed | cancelled. The names
// are the API's ("state" of a task, the last event of its stream).
enum class TaskState { queued, running, done, failed, cancelled };
std::string_view to_string(TaskState s) noexcept;
std::optional<TaskState> parse_task_state(std::string_view s) noexcept;
// done, failed and cancelled: the task will not change again.
bool is_final(TaskState s) noexcept;

// One event of a task's stream (GET /v1/tasks/{id}/events): "state" first
// (the task as GET /v1/tasks/{id} shows it), then "plan", "progress", "file",
// "warning" (data as llmpt::to_json(Event)), and last "done", "failed" or
// "cancelled" (the task again, with its result or error).
struct TaskEvent {
    std::string event;
    std::string data;
};
// Follows a task's event stream until it ends (Ok), `cancel` is set
// (errc::interrupted) or the daemon goes away (errc::network).
Status follow(const std::filesystem::path& socket, const std::string& task_id,
              const std::function<void(const TaskEvent&)>& on_event, const std::atomic<bool>* cancel = nullptr);

class Daemon {
public:
    // Takes the locks and opens the control socket; scanning starts in run().
    static Result<std::unique_ptr<Daemon>> start(Options options);
    virtual ~Daemon() = default;
    virtual const std::filesystem::path& socket() const = 0;
    // The HF endpoint's port; 0: none (Options::hub_listen).
    virtual std::uint16_t hub_port() const = 0;
    // Scans, seeds and maintains until `stop` is set; then stops seeding,
    // closes the socket and releases the locks (bounded).
    virtual void run(const std::atomic<bool>& stop) = 0;
};

} // namespace llmpt::daemon
