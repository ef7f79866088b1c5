// The seeder daemon: its control API (routes on a Unix socket), the scanner
// thread that keeps daemon/seeds current, download tasks (daemon/tasks) and
// the HF endpoint (endpoint/). Who serves a cache is daemon/control.
#include <llmpt/daemon.hpp>

#include "daemon/control.hpp"
#include "daemon/seeds.hpp"
#include "daemon/tasks.hpp"
#include "endpoint/endpoint.hpp"
#include "hub/hub.hpp"
#include "server/http_server.hpp"
#include "util/fd.hpp"
#include "util/time.hpp"
#include "util/url.hpp"

#include <llmpt/address.hpp>
#include <llmpt/download.hpp>
#include <llmpt/seed.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace llmpt::daemon {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

class DaemonImpl final : public Daemon {
public:
    DaemonImpl(Options o, std::vector<cache::FileLock> locks, std::unique_ptr<Session> session)
        : o_(std::move(o)), locks_(std::move(locks)), session_(std::move(session)) {
        Tasks::Config tc;
        tc.base = Settings::from_env();
        tc.base.cache_dir = o_.caches.front();
        tc.session = session_.get(); // seeds and tasks share it
        if (!o_.tracker.empty()) tc.base.tracker = o_.tracker;
        if (!o_.endpoint.empty()) tc.base.endpoint = o_.endpoint;
        if (!o_.publish_token.empty()) tc.base.publish_token = o_.publish_token; // cohorts on a tracker that wants one
        tc.caches = o_.caches;
        tc.state_file = o_.state_dir / "tasks.json";
        tc.max_running = o_.max_running;
        tc.log = [this](const std::string& line) { log(line); };
        tc.on_finished = [this] { request_scan(); };
        // Stopping is bounded whatever a task is doing: the tasks' state is
        // on disk (tasks.json, journaled temp files), so the process may end
        // without them and they resume at the next start.
        tc.on_stuck = [this](std::size_t n) {
            log(fmt::format("exiting without waiting for {} task(s); they resume at the next start", n));
            std::_Exit(1);
        };
        tasks_ = std::make_unique<Tasks>(std::move(tc));

        Seeds::Config sc;
        sc.caches = o_.caches;
        sc.hub = o_.endpoint.empty() ? Settings::from_env().endpoint : o_.endpoint;
        sc.list_files = [this](const Snapshot& snap) { return list_files(snap); };
        sc.start_seeder = [this](const Snapshot& snap) { return Seeder::start(*session_, seed_request(snap)); };
        sc.busy = [this](const fs::path& cache, const RepoRef& repo) { return tasks_->busy(cache, repo); };
        sc.log = [this](const std::string& line) { log(line); };
        seeds_ = std::make_unique<Seeds>(std::move(sc));
    }

    ~DaemonImpl() override {
        if (endpoint_) endpoint_->stop();
        if (server_) server_->stop();
        tasks_.reset();
        std::error_code ec;
        fs::remove(o_.socket, ec);
    }

    Status open_socket() {
        // The saved tasks are known before the socket answers: a client
        // asking about its task right after a restart must not get 404.
        tasks_->resume_saved();
        std::error_code ec;
        fs::remove(o_.socket, ec); // a stale one: the lock says nobody else serves it
        server::Options so;
        so.unix_path = o_.socket.string();
        so.threads = 2;
        so.body_limit = 64 * 1024;
        so.idle_timeout = std::chrono::seconds(60);
        auto s = server::HttpServer::start(so, [this](const server::Request& r) { return handle(r); });
        if (!s) return s.error();
        server_ = std::move(*s);
        return ok();
    }

    // The HF endpoint: its downloads are tasks like any other.
    Status open_endpoint() {
        if (o_.hub_listen.empty()) return ok();
        const auto where = parse_host_port(o_.hub_listen, "127.0.0.1");
        if (!where) return Error(errc::usage, "--hub-listen: expected HOST:PORT", o_.hub_listen);
        endpoint::Options eo;
        eo.upstream = util::trim_trailing_slashes(o_.endpoint.empty() ? Settings::from_env().endpoint : o_.endpoint);
        const auto upstream = eo.upstream;
        eo.cache_dir = o_.caches.front();
        eo.state_dir = o_.state_dir;
        eo.log = [this](const std::string& line) { log(line); };
        eo.submit = [this](const TaskRequest& t, std::shared_ptr<FileWatch> watch) -> Status {
            auto s = tasks_->submit(t, std::move(watch));
            if (!s) return s.error();
            return ok();
        };
        server::Options so;
        so.host = where->host;
        so.port = where->port;
        so.threads = 8; // a handler waits on the Hub for metadata
        auto e = endpoint::Endpoint::start(std::move(eo), so);
        if (!e) {
            if (o_.hub_listen != Options::default_hub_listen) return e.error();
            // Another daemon (of another cache) has the default port, most
            // likely. The message names the port, not "cannot listen".
            auto why = e.error().message;
            if (why.rfind("cannot listen: ", 0) == 0) why = why.substr(15);
            log("no HF endpoint: " + o_.hub_listen + " is not free (" + why +
                "); --hub-listen picks another address");
            return ok();
        }
        endpoint_ = std::move(*e);
        log("HF endpoint: export HF_ENDPOINT=" + hub_url() + " (upstream " + upstream + ")");
        return ok();
    }

    std::uint16_t hub_port() const override { return endpoint_ ? endpoint_->port() : 0; }
    // What HF_ENDPOINT is set to for this daemon's endpoint.
    std::string hub_url() const {
        const auto where = parse_host_port(o_.hub_listen, "127.0.0.1");
        std::string host = where ? where->host : "127.0.0.1";
        if (host == "0.0.0.0" || host == "::") host = "127.0.0.1";
        return fmt::format("http://{}:{}", url_host(host), hub_port());
    }

    const fs::path& socket() const override { return o_.socket; }

    void run(const std::atomic<bool>& stop) override {
        log(fmt::format("daemon started: pid {}, socket {}, {} cache(s), tracker {}", ::getpid(), o_.socket.string(),
                        o_.caches.size(), o_.tracker.empty() ? "none" : o_.tracker));
        std::thread scanner([&] {
            while (!stop.load()) {
                {
                    std::lock_guard lk(wake_mu_);
                    scan_requested_ = false;
                    scanning_ = true;
                }
                const auto r = seeds_->scan();
                {
                    std::lock_guard lk(wake_mu_);
                    scanning_ = false;
                    ++scans_done_;
                    last_scan_ = r;
                }
                scanned_.notify_all();
                std::unique_lock lk(wake_mu_);
                wake_.wait_for(lk, o_.scan_interval, [&] { return stop.load() || scan_requested_; });
            }
        });
        while (!stop.load()) {
            seeds_->maintain();
            std::unique_lock lk(wake_mu_);
            wake_.wait_for(lk, std::chrono::seconds(1), [&] { return stop.load(); });
        }
        {
            std::lock_guard lk(wake_mu_);
            stopping_ = true;
        }
        wake_.notify_all();
        scanned_.notify_all();
        scanner.join();
        if (server_) server_->stop();
        tasks_.reset(); // running downloads stop; they resume at the next start
        seeds_->stop_all();
        session_.reset(); // bounded: trackers get their `stopped` announces
        log("daemon stopped");
    }

private:
    // A finished task wrote a snapshot: seed it now rather than at the next scan.
    void request_scan() {
        {
            std::lock_guard lk(wake_mu_);
            scan_requested_ = true;
        }
        wake_.notify_all();
    }

    // POST /v1/scan: a scan on the scanner thread that starts after this
    // request, awaited for a while (verifying a large new snapshot can take
    // minutes: then 202, and the scan goes on). One request at a time waits:
    // the others get 202 at once, so scans never hold every control thread
    // and /health always answers.
    server::Response scan_now() {
        std::unique_lock lk(wake_mu_);
        const auto target = scans_done_ + (scanning_ ? 2 : 1);
        scan_requested_ = true;
        wake_.notify_all();
        if (scan_waiting_) return reply({{"scanning", true}}, 202);
        scan_waiting_ = true;
        const bool done =
            scanned_.wait_for(lk, std::chrono::seconds(20), [&] { return stopping_ || scans_done_ >= target; });
        scan_waiting_ = false;
        if (!done || stopping_) return reply({{"scanning", true}}, 202);
        const auto r = last_scan_;
        lk.unlock();
        return reply({{"seeds", seeds_->size()}, {"added", r.added}, {"removed", r.removed}, {"failed", r.failed}});
    }

    void log(const std::string& line) const {
        if (o_.log) o_.log(util::utc_timestamp() + " " + line);
    }

    // The Hub's file list of a snapshot without a manifest (Seeds::Config::list_files).
    Result<std::vector<cache::ManifestEntry>> list_files(const Snapshot& snap) const {
        auto settings = Settings::from_env();
        if (!o_.endpoint.empty()) settings.endpoint = o_.endpoint;
        settings.max_retries = 1; // the scan goes on; the next try is minutes away
        settings.api_timeout = std::chrono::seconds(10);
        hub::HubClient hub(settings);
        auto files = hub.list_files(snap.repo, snap.commit);
        if (!files) return files.error();
        std::vector<cache::ManifestEntry> entries;
        for (auto& f : *files) entries.push_back({std::move(f.path), std::move(f.etag), f.size});
        return entries;
    }

    SeedRequest seed_request(const Snapshot& snap) const {
        SeedRequest req;
        req.repo = snap.repo.id.str();
        req.repo_type = snap.repo.type;
        req.revision = snap.commit.str();
        req.cache_dir = snap.cache;
        req.tracker = o_.tracker;
        req.publish_token = o_.publish_token;
        req.tracker_check = o_.tracker_check;
        return req;
    }

    // A JSON answer: already serialized (the task list), or a json value.
    static server::Response raw_json(std::string body, int status = 200) {
        server::Response r;
        r.status = status;
        r.body = std::move(body);
        r.header("Content-Type", "application/json");
        return r;
    }
    static server::Response reply(const json& j, int status = 200) { return raw_json(j.dump(), status); }

    server::Response handle(const server::Request& req) {
        if (req.path == "/health") {
            if (req.method != "GET") return server::Response::json_error(405, "use GET");
            json caches = json::array();
            for (const auto& c : o_.caches) caches.push_back(c.string());
            return reply({{"status", "ok"}, {"pid", ::getpid()}, {"caches", caches}, {"seeds", seeds_->size()},
                          {"tasks", tasks_ ? tasks_->active() : 0}, {"tracker", o_.tracker},
                          {"hub", endpoint_ ? json(hub_url()) : json(nullptr)}});
        }
        if (req.path == "/v1/tasks") {
            if (req.method == "GET") return raw_json(tasks_->list_json());
            if (req.method != "POST") return server::Response::json_error(405, "use GET or POST");
            auto tr = TaskRequest::parse(req.body);
            if (!tr) return server::Response::json_error(400, tr.error().what());
            auto sub = tasks_->submit(*tr);
            if (!sub) return server::Response::json_error(sub.error().code == errc::usage ? 400 : 503, sub.error().what());
            auto task = json::parse(tasks_->get_json(sub->id).value_or("null"));
            return reply({{"id", sub->id}, {"existing", sub->existing}, {"task", task}}, sub->existing ? 200 : 201);
        }
        if (req.path.starts_with("/v1/tasks/")) return handle_task(req);
        if (req.path == "/v1/seeds") {
            if (req.method != "GET") return server::Response::json_error(405, "use GET");
            json list = json::array();
            for (const auto& [_, s] : seeds_->entries()) {
                const auto st = s.seeder->status();
                list.push_back({{"repo", s.snap.repo.id.str()},
                                {"repo_type", to_string(s.snap.repo.type)},
                                {"revision", s.snap.commit.str()},
                                {"cache", s.snap.cache.string()},
                                {"info_hash", st.info_hash.v2()},
                                {"files", st.files},
                                {"bytes", st.bytes},
                                {"peers", st.peers},
                                {"uploaded", st.uploaded},
                                {"publish", st.publish}});
            }
            return reply(list);
        }
        if (req.path == "/v1/scan") {
            if (req.method != "POST") return server::Response::json_error(405, "use POST");
            return scan_now();
        }
        return server::Response::json_error(404, "no such endpoint: " + req.path);
    }

    // /v1/tasks/{id} (GET, DELETE) and /v1/tasks/{id}/events (GET, Server-Sent Events).
    server::Response handle_task(const server::Request& req) {
        std::string id = req.path.substr(std::string_view("/v1/tasks/").size());
        bool events = false;
        if (id.ends_with("/events")) {
            id.resize(id.size() - std::string_view("/events").size());
            events = true;
        }
        const auto unknown = [&] { return server::Response::json_error(404, "no such task: " + id); };
        if (id.empty() || id.find('/') != std::string::npos) return unknown();
        if (events) {
            if (req.method != "GET") return server::Response::json_error(405, "use GET");
            auto stream = tasks_->events(id);
            if (!stream) return unknown();
            server::Response r;
            r.header("Content-Type", "text/event-stream");
            r.header("Cache-Control", "no-cache");
            r.stream = std::move(stream);
            return r;
        }
        if (req.method == "GET") {
            const auto j = tasks_->get_json(id);
            return j ? raw_json(*j) : unknown();
        }
        if (req.method == "DELETE") {
            const auto j = tasks_->cancel(id);
            return j ? raw_json(*j) : unknown();
        }
        return server::Response::json_error(405, "use GET or DELETE");
    }

    Options o_;
    std::vector<cache::FileLock> locks_;
    std::unique_ptr<Session> session_; // declared before every user of it: destroyed after them
    std::unique_ptr<server::HttpServer> server_;
    std::unique_ptr<Tasks> tasks_;
    std::unique_ptr<Seeds> seeds_; // after tasks_ (it asks them): stopped before them
    std::unique_ptr<endpoint::Endpoint> endpoint_; // after tasks_: stopped before them
    std::mutex wake_mu_; // everything below
    std::condition_variable wake_;    // the scanner: a scan is asked for, or the daemon stops
    std::condition_variable scanned_; // POST /v1/scan: a scan ended
    bool scan_requested_ = false, scanning_ = false, stopping_ = false;
    bool scan_waiting_ = false; // a POST /v1/scan is waiting for its scan
    std::uint64_t scans_done_ = 0;
    Seeds::ScanResult last_scan_;
};

} // namespace

Result<std::unique_ptr<Daemon>> Daemon::start(Options o) {
    if (o.caches.empty()) return Error(errc::usage, "no cache to serve");
    for (auto& c : o.caches) {
        std::error_code ec;
        fs::create_directories(c, ec);
        c = fs::weakly_canonical(fs::absolute(c, ec), ec);
    }
    if (o.socket.empty()) {
        auto s = default_socket(o.caches.front());
        if (!s) return s.error();
        o.socket = *s;
    }
    if (o.state_dir.empty()) o.state_dir = o.caches.front() / ".locks" / "llmpt-daemon";
    {
        std::error_code ec;
        fs::create_directories(o.state_dir, ec);
        if (ec) return util::errno_error(ec.value(), "cannot create the state folder", o.state_dir.string());
        fs::permissions(o.state_dir, fs::perms::owner_all, ec); // tasks.json holds tokens
    }
    auto locks = take_locks(o.caches, o.socket);
    if (!locks) return locks.error();
    auto settings = Settings::from_env();
    settings.p2p_listen = o.listen;
    auto session = Session::start(settings);
    if (!session) return session.error();
    auto d = std::make_unique<DaemonImpl>(std::move(o), std::move(*locks), std::move(*session));
    // The endpoint first: the control API's threads read endpoint_ (/health).
    if (auto st = d->open_endpoint(); !st) return st.error();
    if (auto st = d->open_socket(); !st) return st.error();
    return std::unique_ptr<Daemon>(std::move(d));
}

} // namespace llmpt::daemon
