// daemon/tasks: downloads that run inside the daemon as tasks clients attach
// to and detach from (POST/GET/DELETE /v1/tasks, GET /v1/tasks/{id}/events).
//
// A task runs llmpt::download() on its own thread; at most `max_running` run
// at once, the others wait queued. An identical request (same JSON) while a
// task for it is queued or running joins that task. Every subscriber gets the
// task's current state first, then each event; a slow subscriber loses
// intermediate progress events (only the latest is kept), never others. The
// list of tasks is saved on every state change (tasks.json), so a daemon
// killed with -9 resumes the unfinished ones when it starts again: the
// download itself resumes from what the cache's staging and partial files
// hold.
#pragma once

#include <llmpt/daemon.hpp>

#include "server/http_server.hpp"

#include <nlohmann/json_fwd.hpp>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace llmpt::daemon {

// The JSON value of TaskRequest::to_json() (the text is its dump()), and
// TaskRequest::parse() of a value already parsed.
nlohmann::json to_json_value(const TaskRequest& r);
Result<TaskRequest> task_request_from(const nlohmann::json& j);

struct Task;

class Tasks {
public:
    struct Config {
        Settings base;                               // the daemon's settings (environment)
        Session* session = nullptr;                  // the daemon's: tasks' torrents run there
        std::vector<std::filesystem::path> caches;   // tasks download into one of these
        std::filesystem::path state_file;            // tasks.json
        int max_running = 2;
        std::function<void(const std::string&)> log;
        std::function<void()> on_finished;           // a task ended (the daemon rescans)
        // How a task downloads (empty: llmpt::download through `session`);
        // unit tests put a fake here.
        std::function<Result<DownloadResult>(const Settings&, const DownloadRequest&, const EventHandler&)> download;
        // Stopping: every running task is cancelled and has this long to end.
        std::chrono::milliseconds stop_grace{10000};
        // Told how many tasks are still running after stop_grace (a wait
        // somewhere does not honour cancellation). The daemon logs them and
        // ends the process: tasks resume at the next start. When it returns,
        // ~Tasks goes on waiting (the threads use this object).
        std::function<void(std::size_t still_running)> on_stuck;
    };
    explicit Tasks(Config c);
    // Stops the running tasks without marking them cancelled: they resume at
    // the next start. Bounded by Config::stop_grace, then Config::on_stuck.
    ~Tasks();

    // Starts the unfinished tasks of the state file.
    void resume_saved();

    struct Submitted {
        std::string id;
        bool existing = false; // an identical task was already queued or running
    };
    // `watch` (optional) follows the task's files as they arrive; joining an
    // identical task adds it there.
    Result<Submitted> submit(const TaskRequest& request, std::shared_ptr<FileWatch> watch = {});

    std::string list_json() const;
    std::optional<std::string> get_json(const std::string& id) const;
    // Cancels a queued or running task; forgets a finished one. nullopt: unknown id.
    std::optional<std::string> cancel(const std::string& id);
    // The task's event stream (Server-Sent Events); nullptr: unknown id.
    std::shared_ptr<server::BodyStream> events(const std::string& id);

    std::size_t active() const;
    // Whether a queued or running task downloads into this repo of this cache.
    bool busy(const std::filesystem::path& cache, const RepoRef& repo) const;

private:
    void run(const std::shared_ptr<Task>& t);
    void save() const;
    void start_thread(const std::shared_ptr<Task>& t);

    Config c_;
    mutable std::mutex mu_; // tasks_, order_, running_, stopping_
    std::condition_variable slot_;  // a running slot freed, or a queued task cancelled
    std::condition_variable idle_;  // a task thread ended
    int threads_ = 0;               // task threads alive
    std::map<std::string, std::shared_ptr<Task>> tasks_;
    std::vector<std::string> order_; // ids, oldest first
    int running_ = 0;
    bool stopping_ = false;
    mutable std::mutex save_mu_;
};

} // namespace llmpt::daemon
