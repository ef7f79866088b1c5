// llmpt daemon start|stop|restart|status: the seeder daemon's life cycle.
#include "common.hpp"
#include "progress.hpp"

#include <llmpt/daemon.hpp>
#include <llmpt/settings.hpp>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

namespace llmpt::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct DaemonArgs {
    std::vector<std::string> caches;
    std::string tracker, listen = "0.0.0.0:6881", publish_token, socket, log_file, endpoint;
    std::string hub_listen = daemon::Options::default_hub_listen;
    int scan_interval = 10, tracker_check = 60, max_tasks = 2;
    bool foreground = false, json_out = false;

    std::vector<fs::path> cache_dirs() const {
        std::vector<fs::path> out;
        for (const auto& c : caches) out.emplace_back(c);
        if (out.empty()) out.push_back(default_cache_dir());
        return out;
    }
};

// The publish token reaches the background daemon through its environment,
// not its command line (which every user can read in /proc).
constexpr const char* kPublishTokenEnv = "LLMPT_PUBLISH_TOKEN";

// The fd a background start waits on: the daemon writes "ready" or its error there.
constexpr const char* kNotifyEnv = "LLMPT_DAEMON_NOTIFY_FD";

void notify(const std::string& line) {
    const char* v = std::getenv(kNotifyEnv);
    if (!v) return;
    const int fd = std::atoi(v);
    const auto text = line + "\n";
    if (::write(fd, text.data(), text.size()) < 0) { /* the starter is gone; nothing to tell */ }
    ::close(fd);
    ::unsetenv(kNotifyEnv);
}

int run_foreground(const DaemonArgs& a) {
    if (!parse_listen(a.listen, "0.0.0.0")) return usage_error("--listen must be HOST:PORT, got '" + a.listen + "'");
    if (a.hub_listen != "off" && !parse_listen(a.hub_listen, "127.0.0.1"))
        return usage_error("--hub-listen must be HOST:PORT or off, got '" + a.hub_listen + "'");
    if (a.scan_interval < 1) return usage_error("--scan-interval must be at least 1 second");
    if (a.tracker_check < 1) return usage_error("--tracker-check must be at least 1 second");
    std::shared_ptr<std::ofstream> log_file;
    if (!a.log_file.empty()) {
        log_file = std::make_shared<std::ofstream>(a.log_file, std::ios::app);
        if (!*log_file) {
            notify("error: cannot open the log file " + a.log_file);
            return report(Error(errc::disk, "cannot open the log file", a.log_file));
        }
    }
    daemon::Options o;
    o.caches = a.cache_dirs();
    o.tracker = a.tracker.empty() ? Settings::from_env().tracker : a.tracker;
    o.publish_token = a.publish_token;
    if (o.publish_token.empty())
        if (const char* t = std::getenv(kPublishTokenEnv)) o.publish_token = t;
    o.listen = a.listen;
    o.endpoint = a.endpoint;
    o.hub_listen = a.hub_listen == "off" ? std::string() : a.hub_listen;
    o.max_running = a.max_tasks;
    o.socket = a.socket;
    o.scan_interval = std::chrono::seconds(a.scan_interval);
    o.tracker_check = std::chrono::seconds(a.tracker_check);
    auto mu = std::make_shared<std::mutex>();
    o.log = [log_file, mu](const std::string& line) {
        std::lock_guard lk(*mu);
        if (log_file) *log_file << line << std::endl;
        else fmt::print(stderr, "{}\n", line);
    };
    install_interrupt_handler();
    auto d = daemon::Daemon::start(o);
    if (!d) {
        notify("error: " + d.error().what());
        return report(d.error());
    }
    notify("ready " + (*d)->socket().string());
    (*d)->run(g_interrupted);
    return 0;
}

// Starts a daemon in the background and waits (bounded) until it is ready
// or says why it is not.
int run_start(const DaemonArgs& a, const std::vector<std::string>& argv) {
    for (const auto& c : a.cache_dirs())
        if (const auto h = daemon::holder(c))
            return report(Error(errc::failure,
                                "a daemon already serves this cache (pid " + std::to_string(h->pid) + ", socket " +
                                    h->socket.string() + ")",
                                c.string()));
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return report(Error(errc::failure, "pipe failed"));
    const pid_t pid = ::fork();
    if (pid < 0) return report(Error(errc::failure, "fork failed"));
    if (pid == 0) {
        ::close(fds[0]);
        ::setsid();
        const int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, STDIN_FILENO);
        ::dup2(null, STDOUT_FILENO);
        // Nothing of ours may keep the starter's pipes open. What the daemon
        // prints to stderr (not its log lines: those go to --log-file) is
        // kept with the log, or dropped.
        const int err = a.log_file.empty() ? -1 : ::open(a.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(err >= 0 ? err : null, STDERR_FILENO);
        const int notify_fd = ::fcntl(fds[1], F_DUPFD, 3); // without O_CLOEXEC: it survives exec
        ::setenv(kNotifyEnv, std::to_string(notify_fd).c_str(), 1);
        if (!a.publish_token.empty()) ::setenv(kPublishTokenEnv, a.publish_token.c_str(), 1);
        std::vector<char*> args;
        for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
        args.push_back(const_cast<char*>("--foreground"));
        args.push_back(nullptr);
        ::execv("/proc/self/exe", args.data());
        _exit(127);
    }
    ::close(fds[1]);
    std::string said;
    pollfd p{fds[0], POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
        if (::poll(&p, 1, 200) > 0) {
            char buf[1024];
            const ssize_t n = ::read(fds[0], buf, sizeof buf);
            if (n <= 0) break; // closed: said it all, or died
            said.append(buf, static_cast<std::size_t>(n));
            if (said.find('\n') != std::string::npos) break;
        }
    }
    ::close(fds[0]);
    if (said.rfind("ready ", 0) == 0) {
        const auto socket = said.substr(6, said.find('\n') - 6);
        fmt::print("llmpt daemon started (pid {}, socket {})\n", pid, socket);
        if (auto health = daemon::call(socket, "GET", "/health"); health && health->status == 200) {
            const auto j = json::parse(health->body, nullptr, false);
            if (j.is_object() && j.contains("hub") && j["hub"].is_string())
                fmt::print("HF endpoint: export HF_ENDPOINT={}\n", j["hub"].get<std::string>());
        }
        return 0;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == 0) ::kill(pid, SIGTERM);
    if (said.rfind("error: ", 0) == 0) return report(Error(errc::failure, said.substr(7, said.find('\n') - 7)));
    return report(Error(errc::failure, "the daemon did not become ready within 60 s" +
                                           (a.log_file.empty() ? std::string() : "; see " + a.log_file)));
}

int run_stop(const DaemonArgs& a) {
    int code = 0;
    for (const auto& c : a.cache_dirs()) {
        const auto h = daemon::holder(c);
        if (!h) {
            fmt::print("no daemon serves {}\n", c.string());
            continue;
        }
        ::kill(static_cast<pid_t>(h->pid), SIGTERM);
        auto gone = [&](std::chrono::seconds within) {
            const auto deadline = std::chrono::steady_clock::now() + within;
            while (std::chrono::steady_clock::now() < deadline) {
                if (!daemon::holder(c)) return true;
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            return false;
        };
        if (gone(std::chrono::seconds(20))) {
            fmt::print("llmpt daemon stopped (pid {})\n", h->pid);
            continue;
        }
        ::kill(static_cast<pid_t>(h->pid), SIGKILL);
        if (gone(std::chrono::seconds(5))) {
            fmt::print("llmpt daemon killed after 20 s without stopping (pid {})\n", h->pid);
        } else {
            code = report(Error(errc::failure, fmt::format("the daemon (pid {}) does not stop", h->pid), c.string()));
        }
    }
    return code;
}

int run_status(const DaemonArgs& a) {
    json out = json::array();
    bool all_running = true;
    for (const auto& c : a.cache_dirs()) {
        const auto h = daemon::holder(c);
        json one = {{"cache", c.string()}, {"running", bool(h)}};
        if (!h) {
            all_running = false;
            if (!a.json_out) fmt::print("no daemon serves {}\n", c.string());
            out.push_back(one);
            continue;
        }
        one["pid"] = h->pid;
        one["socket"] = h->socket.string();
        if (auto health = daemon::call(h->socket, "GET", "/health"); health && health->status == 200) {
            const auto j = json::parse(health->body, nullptr, false);
            if (j.is_object() && j.contains("hub")) one["hub"] = j["hub"];
        }
        auto seeds = daemon::call(h->socket, "GET", "/v1/seeds");
        if (!seeds || seeds->status != 200) {
            one["error"] = seeds ? "HTTP " + std::to_string(seeds->status) : seeds.error().what();
            all_running = false;
        } else {
            one["seeds"] = json::parse(seeds->body, nullptr, false);
        }
        if (auto tasks = daemon::call(h->socket, "GET", "/v1/tasks"); tasks && tasks->status == 200)
            one["tasks"] = json::parse(tasks->body, nullptr, false);
        if (!a.json_out) {
            fmt::print("daemon pid {} serves {} (socket {})\n", h->pid, c.string(), h->socket.string());
            if (one.value("hub", json()).is_string())
                fmt::print("  HF endpoint: export HF_ENDPOINT={}\n", one["hub"].get<std::string>());
            for (const auto& t : one.value("tasks", json::array())) {
                if (!t.is_object()) continue;
                const auto& p = t["progress"];
                std::string done;
                if (p.is_object())
                    done = fmt::format("  {}/{}", human_bytes(p.value("bytes_done", std::uint64_t{0})),
                                       human_bytes(p.value("bytes_total", std::uint64_t{0})));
                fmt::print("  task {}  {}  {}@{}{}\n", t.value("id", ""), t.value("state", ""), t.value("repo", ""),
                           t.value("revision", ""), done);
            }
            if (one.contains("error")) fmt::print("  control API: {}\n", one["error"].get<std::string>());
            for (const auto& s : one.value("seeds", json::array()))
                fmt::print("  seeding {}@{}  {} peers  {} bytes uploaded  publish {}\n", s.value("repo", ""),
                           s.value("revision", ""), s.value("peers", 0), s.value("uploaded", std::uint64_t{0}),
                           s.value("publish", ""));
        }
        out.push_back(one);
    }
    if (a.json_out) fmt::print("{}\n", out.dump());
    return all_running ? 0 : 1;
}

void common_options(CLI::App* cmd, DaemonArgs& a) {
    cmd->add_option("--cache-dir", a.caches, "Cache root to serve; repeatable (default: the HF cache)");
    cmd->add_option("--socket", a.socket, "Control socket (default: $XDG_RUNTIME_DIR/llmpt/daemon-*.sock)");
}

void start_options(CLI::App* cmd, DaemonArgs& a) {
    common_options(cmd, a);
    cmd->add_option("--tracker", a.tracker, "Tracker base URL (default: LLMPT_TRACKER)");
    cmd->add_option("--listen", a.listen, "HOST:PORT for peers (port 0: any)")->capture_default_str();
    cmd->add_option("--publish-token", a.publish_token, "Token for publishing to the tracker (default: LLMPT_PUBLISH_TOKEN)");
    cmd->add_option("--endpoint", a.endpoint,
                    "The Hub: the HF endpoint's upstream, and asked for the file list of snapshots that llmpt did "
                    "not download (default: HF_ENDPOINT, else https://huggingface.co)");
    cmd->add_option("--hub-listen", a.hub_listen,
                    "HOST:PORT of the HF endpoint: HF_ENDPOINT=http://HOST:PORT makes any Hub client (huggingface_hub, "
                    "transformers, @huggingface/hub) download through llmpt; 'off': none. Loopback by default: "
                    "it passes the client's token to the Hub. If the default port is taken the daemon runs without it")
        ->capture_default_str();
    cmd->add_option("--max-tasks", a.max_tasks, "Download tasks that run at once; the others wait queued")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    cmd->add_option("--log-file", a.log_file, "Append the daemon's log lines here (default: stderr in the foreground)");
    cmd->add_option("--scan-interval", a.scan_interval, "Seconds between scans of the caches")->capture_default_str();
    cmd->add_option("--tracker-check", a.tracker_check,
                    "Seconds between asking the tracker whether it still holds each torrent (republish if not)")
        ->capture_default_str();
}

} // namespace

Runner add_daemon(CLI::App& app) {
    auto a = std::make_shared<DaemonArgs>();
    auto* cmd = app.add_subcommand("daemon", "Seed every complete snapshot of the caches in the background");
    cmd->require_subcommand(1);
    cmd->footer("One daemon per cache. It verifies each complete snapshot (remembering what it verified), "
                "seeds it, publishes it when the tracker lacks it, notices new, deleted and changed snapshots "
                "within --scan-interval, and answers a control API on a Unix socket (mode 0600). `llmpt download` "
                "into a cache the daemon serves runs as a daemon task: it outlives the terminal, and the same "
                "command re-attaches (`llmpt daemon status` lists the tasks).");
    auto* start = cmd->add_subcommand("start", "Start the daemon (in the background unless --foreground)");
    start_options(start, *a);
    start->add_flag("--foreground", a->foreground, "Run in this process until SIGINT/SIGTERM");
    auto* stop = cmd->add_subcommand("stop", "Stop the daemon (SIGTERM, then SIGKILL after 20 s)");
    common_options(stop, *a);
    auto* restart = cmd->add_subcommand("restart", "Stop the daemon, then start it again");
    start_options(restart, *a);
    auto* status = cmd->add_subcommand("status", "Whether a daemon serves the caches, its tasks and its seeds");
    common_options(status, *a);
    status->add_flag("--json", a->json_out, "One JSON array on stdout");

    return [a, start, stop, restart, status] {
        // The background child runs `llmpt daemon start ... --foreground`.
        auto argv = [&] {
            std::vector<std::string> v{"llmpt", "daemon", "start"};
            for (const auto& c : a->caches) v.insert(v.end(), {"--cache-dir", fs::absolute(c).string()});
            if (!a->socket.empty()) v.insert(v.end(), {"--socket", fs::absolute(a->socket).string()});
            if (!a->tracker.empty()) v.insert(v.end(), {"--tracker", a->tracker});
            if (!a->endpoint.empty()) v.insert(v.end(), {"--endpoint", a->endpoint});
            v.insert(v.end(), {"--hub-listen", a->hub_listen});
            if (!a->log_file.empty()) v.insert(v.end(), {"--log-file", fs::absolute(a->log_file).string()});
            v.insert(v.end(), {"--listen", a->listen, "--scan-interval", std::to_string(a->scan_interval),
                               "--tracker-check", std::to_string(a->tracker_check), "--max-tasks",
                               std::to_string(a->max_tasks)});
            return v;
        };
        if (start->parsed()) return a->foreground ? run_foreground(*a) : run_start(*a, argv());
        if (stop->parsed()) return run_stop(*a);
        if (restart->parsed()) {
            if (const int rc = run_stop(*a); rc != 0) return rc;
            return run_start(*a, argv());
        }
        if (status->parsed()) return run_status(*a);
        return usage_error("daemon: say start, stop, restart or status");
    };
}

} // namespace llmpt::cli
