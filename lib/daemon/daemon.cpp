#include <llmpt/daemon.hpp>

#include "cache/layout.hpp"
#include "daemon/tasks.hpp"
#include "endpoint/endpoint.hpp"
#include "http/client.hpp"
#include "hub/hub.hpp"
#include "server/http_server.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"
#include "util/time.hpp"
#include "util/url.hpp"

#include <llmpt/address.hpp>

#include <llmpt/download.hpp>
#include <llmpt/seed.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace llmpt::daemon {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

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

Result<fs::path> default_socket(const fs::path& cache) {
    std::error_code ec;
    const auto abs = fs::weakly_canonical(fs::absolute(cache, ec), ec);
    const auto name = "daemon-" + util::sha256_hex(abs.string()).substr(0, 16) + ".sock";
    fs::path dir;
    if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x) dir = fs::path(x) / "llmpt";
    else dir = fs::path("/tmp") / ("llmpt-" + std::to_string(::getuid()));
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

namespace {

// "models--org--name" → the repo it caches.
std::optional<RepoRef> repo_of_folder(const std::string& name) {
    const auto sep = name.find("--");
    if (sep == std::string::npos) return std::nullopt;
    const auto kind = name.substr(0, sep);
    RepoType type;
    if (kind == "models") type = RepoType::model;
    else if (kind == "datasets") type = RepoType::dataset;
    else if (kind == "spaces") type = RepoType::space;
    else return std::nullopt;
    std::string id = name.substr(sep + 2);
    if (const auto org = id.find("--"); org != std::string::npos) id.replace(org, 2, "/");
    auto parsed = RepoId::parse(id);
    if (!parsed) return std::nullopt;
    RepoRef ref{type, *parsed};
    if (ref.folder_name() != name) return std::nullopt;
    return ref;
}

// A snapshot whose every file (by the commit's manifest) is in the cache.
struct Snapshot {
    fs::path cache;
    RepoRef repo;
    CommitId commit;
    std::string key() const { return cache.string() + "|" + repo.folder_name() + "|" + commit.str(); }
};

bool all_present(const cache::RepoCache& rc, const CommitId& c, const std::vector<cache::ManifestEntry>& files) {
    for (const auto& f : files)
        if (!rc.snapshot_has(c, f.path) || !rc.has_blob(f.etag, f.size)) return false;
    return !files.empty();
}

// Every snapshot folder of the cache, and whether llmpt wrote its manifest
// (the commit's complete file list). Each repo's staging is swept on the
// way (cache::sweep_staging), so no link there outlives a blob the user
// deleted.
struct Found {
    Snapshot snap;
    std::optional<std::vector<cache::ManifestEntry>> manifest;
};

std::vector<Found> snapshots_of(const fs::path& cache) {
    std::vector<Found> out;
    std::error_code ec;
    for (const auto& repo_dir : fs::directory_iterator(cache, ec)) {
        const auto repo = repo_of_folder(repo_dir.path().filename().string());
        if (!repo) continue;
        const cache::RepoCache rc(cache, *repo);
        cache::sweep_staging(rc);
        std::error_code ec2;
        for (const auto& snap : fs::directory_iterator(repo_dir.path() / "snapshots", ec2)) {
            const auto commit = CommitId::parse(snap.path().filename().string());
            if (commit) out.push_back(Found{Snapshot{cache, *repo, *commit}, cache::read_manifest(rc, *commit)});
        }
    }
    return out;
}

struct Seed {
    Snapshot snap;
    std::shared_ptr<Seeder> seeder;
};

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
                const auto r = scan();
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
            maintain();
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
        {
            std::lock_guard lk(mu_);
            for (auto& [_, s] : seeds_) s.seeder->stop();
            seeds_.clear();
        }
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
        std::lock_guard seeds(mu_);
        return reply({{"seeds", seeds_.size()}, {"added", r.added}, {"removed", r.removed}, {"failed", r.failed}});
    }

    void log(const std::string& line) const {
        if (o_.log) o_.log(util::utc_timestamp() + " " + line);
    }

    // Publish retries and republishing (Seeder::maintain), outside the lock:
    // they may wait on the tracker. A changed outcome is logged.
    void maintain() {
        for (auto& [key, seed] : snapshot_seeds()) {
            const auto before = seed.seeder->publish_status();
            seed.seeder->maintain();
            const auto after = seed.seeder->publish_status();
            if (after.publish != before.publish || after.publishes != before.publishes)
                log("publish " + name(seed.snap) + ": " + after.publish +
                    (after.publishes > 1 ? " (again: the tracker had lost it)" : ""));
        }
    }

    struct ScanResult {
        int added = 0, removed = 0, failed = 0;
    };

    // Seeds what is new, stops what is gone or changed. One scan at a time.
    ScanResult scan() {
        std::lock_guard scanning(scan_mu_);
        ScanResult r;
        std::map<std::string, Snapshot> found;
        std::set<std::string> seen;
        for (const auto& c : o_.caches)
            for (auto& f : snapshots_of(c)) {
                seen.insert(f.snap.key());
                const cache::RepoCache rc(f.snap.cache, f.snap.repo);
                // A snapshot without a manifest that a task is downloading gets one when done.
                if (!f.manifest && !tasks_->busy(f.snap.cache, f.snap.repo)) f.manifest = listed_by_hub(f.snap);
                if (f.manifest && all_present(rc, f.snap.commit, *f.manifest)) found.emplace(f.snap.key(), f.snap);
            }
        std::erase_if(listed_, [&](const auto& kv) { return !seen.count(kv.first); });
        std::erase_if(partial_logged_, [&](const auto& k) { return !seen.count(k); });

        std::vector<Seed> gone;
        {
            std::lock_guard lk(mu_);
            for (auto it = seeds_.begin(); it != seeds_.end();) {
                const bool vanished = !found.count(it->first);
                if (vanished || !it->second.seeder->intact()) {
                    log(std::string("stopped seeding ") + name(it->second.snap) +
                        (vanished ? ": the snapshot is gone" : ": a blob changed since it was verified"));
                    if (!vanished) retry_after_[it->first] = Clock::now() + std::chrono::minutes(5);
                    gone.push_back(std::move(it->second));
                    it = seeds_.erase(it);
                    ++r.removed;
                } else {
                    ++it;
                }
            }
        }
        for (auto& g : gone) g.seeder->stop();

        // New snapshots are verified and seeded in parallel, a repo per
        // worker (a repo's record of verified blobs is one file).
        std::map<std::string, std::vector<const Snapshot*>> by_repo;
        for (const auto& [key, snap] : found) {
            {
                std::lock_guard lk(mu_);
                if (seeds_.count(key)) continue;
            }
            if (auto it = retry_after_.find(key); it != retry_after_.end() && Clock::now() < it->second) continue;
            by_repo[snap.cache.string() + "|" + snap.repo.folder_name()].push_back(&snap);
        }
        std::vector<std::vector<const Snapshot*>> groups;
        for (auto& [_, g] : by_repo) groups.push_back(std::move(g));
        std::atomic<std::size_t> next{0};
        std::mutex counts_mu; // r and retry_after_, from the workers
        const auto work = [&] {
            for (auto i = next++; i < groups.size(); i = next++)
                for (const auto* snap : groups[i]) {
                    const bool added = start_seed(*snap);
                    std::lock_guard lk(counts_mu);
                    if (added) {
                        retry_after_.erase(snap->key());
                        ++r.added;
                    } else {
                        retry_after_[snap->key()] = Clock::now() + std::chrono::minutes(5);
                        ++r.failed;
                    }
                }
        };
        const auto workers = std::min<std::size_t>(groups.size(), std::max(1u, std::thread::hardware_concurrency()));
        std::vector<std::thread> extra;
        for (std::size_t i = 1; i < workers; ++i) extra.emplace_back(work);
        work();
        for (auto& t : extra) t.join();
        return r;
    }

    // Verifies, seeds and publishes one snapshot (Seeder::start); logs the outcome.
    bool start_seed(const Snapshot& snap) {
        SeedRequest req;
        req.repo = snap.repo.id.str();
        req.repo_type = snap.repo.type;
        req.revision = snap.commit.str();
        req.cache_dir = snap.cache;
        req.tracker = o_.tracker;
        req.publish_token = o_.publish_token;
        req.tracker_check = o_.tracker_check;
        auto seeder = Seeder::start(*session_, req);
        if (!seeder) {
            log("cannot seed " + name(snap) + ": " + seeder.error().what());
            return false;
        }
        const auto st = (*seeder)->status();
        log(fmt::format("seeding {} info_hash {} ({} files, {} bytes hashed now) publish {}", name(snap), st.info_hash,
                        st.files, st.hashed_now, st.publish));
        std::lock_guard lk(mu_);
        seeds_.emplace(snap.key(), Seed{snap, std::shared_ptr<Seeder>(std::move(*seeder))});
        return true;
    }

    // A snapshot llmpt did not download (huggingface_hub did, or it was copied
    // in) has no manifest: the Hub says which files the commit has, once per
    // snapshot (a commit's files never change). When all are there, the
    // manifest is written and the snapshot is seeded like any other; a
    // partial one (allow_patterns) is not. Runs on the scan thread.
    std::optional<std::vector<cache::ManifestEntry>> listed_by_hub(const Snapshot& snap) {
        const auto key = snap.key();
        auto it = listed_.find(key);
        if (it == listed_.end()) {
            if (auto r = retry_after_.find("list|" + key); r != retry_after_.end() && Clock::now() < r->second)
                return std::nullopt;
            auto settings = Settings::from_env();
            if (!o_.endpoint.empty()) settings.endpoint = o_.endpoint;
            settings.max_retries = 1; // the scan goes on; the next try is minutes away
            settings.api_timeout = std::chrono::seconds(10);
            hub::HubClient hub(settings);
            auto files = hub.list_files(snap.repo, snap.commit);
            if (!files) {
                log("cannot list " + name(snap) + " on the Hub (" + settings.endpoint + "): " + files.error().what() +
                    "; not seeding it");
                retry_after_["list|" + key] =
                    Clock::now() + (files.error().code == errc::not_found ? std::chrono::minutes(60) : std::chrono::minutes(5));
                return std::nullopt;
            }
            std::vector<cache::ManifestEntry> entries;
            for (auto& f : *files) entries.push_back({std::move(f.path), std::move(f.etag), f.size});
            it = listed_.emplace(key, std::move(entries)).first;
        }
        const cache::RepoCache rc(snap.cache, snap.repo);
        if (!all_present(rc, snap.commit, it->second)) {
            if (partial_logged_.insert(key).second)
                log(fmt::format("not seeding {}: only part of the commit's {} files is in the cache", name(snap),
                                it->second.size()));
            return std::nullopt;
        }
        if (auto st = cache::write_manifest(rc, snap.commit, it->second); !st)
            log("cannot write the manifest of " + name(snap) + ": " + st.error().what());
        else
            log(fmt::format("listed {} on the Hub: all {} files are here", name(snap), it->second.size()));
        partial_logged_.erase(key);
        auto out = std::move(it->second);
        listed_.erase(it);
        return out;
    }

    static std::string name(const Snapshot& s) { return std::string(to_string(s.repo.type)) + " " + s.repo.id.str() + "@" + s.commit.str(); }

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
            std::lock_guard lk(mu_);
            json caches = json::array();
            for (const auto& c : o_.caches) caches.push_back(c.string());
            return reply({{"status", "ok"}, {"pid", ::getpid()}, {"caches", caches}, {"seeds", seeds_.size()},
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
            for (const auto& [_, s] : snapshot_seeds()) {
                const auto st = s.seeder->status();
                list.push_back({{"repo", s.snap.repo.id.str()},
                                {"repo_type", to_string(s.snap.repo.type)},
                                {"revision", s.snap.commit.str()},
                                {"cache", s.snap.cache.string()},
                                {"info_hash", st.info_hash},
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

    std::map<std::string, Seed> snapshot_seeds() {
        std::lock_guard lk(mu_);
        return seeds_;
    }

    Options o_;
    std::vector<cache::FileLock> locks_;
    std::unique_ptr<Session> session_; // declared before every user of it: destroyed after them
    std::unique_ptr<server::HttpServer> server_;
    std::mutex mu_; // seeds_
    std::map<std::string, Seed> seeds_;
    std::mutex scan_mu_; // one scan at a time; guards retry_after_, listed_, partial_logged_
    std::map<std::string, Clock::time_point> retry_after_;
    std::map<std::string, std::vector<cache::ManifestEntry>> listed_; // by the Hub, for snapshots without a manifest
    std::set<std::string> partial_logged_;
    std::unique_ptr<Tasks> tasks_;
    std::unique_ptr<endpoint::Endpoint> endpoint_; // after tasks_: stopped before them
    std::mutex wake_mu_; // everything below
    std::condition_variable wake_;    // the scanner: a scan is asked for, or the daemon stops
    std::condition_variable scanned_; // POST /v1/scan: a scan ended
    bool scan_requested_ = false, scanning_ = false, stopping_ = false;
    bool scan_waiting_ = false; // a POST /v1/scan is waiting for its scan
    std::uint64_t scans_done_ = 0;
    ScanResult last_scan_;
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
    std::vector<cache::FileLock> locks;
    for (const auto& c : o.caches) {
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
        const auto text = json{{"pid", ::getpid()}, {"socket", o.socket.string()}}.dump() + "\n";
        if (::ftruncate(l->fd(), 0) != 0 || ::pwrite(l->fd(), text.data(), text.size(), 0) < 0)
            return util::errno_error(errno, "cannot write", lock_path(c).string());
        locks.push_back(std::move(*l));
    }
    auto settings = Settings::from_env();
    settings.p2p_listen = o.listen;
    auto session = Session::start(settings);
    if (!session) return session.error();
    auto d = std::make_unique<DaemonImpl>(std::move(o), std::move(locks), std::move(*session));
    // The endpoint first: the control API's threads read endpoint_ (/health).
    if (auto st = d->open_endpoint(); !st) return st.error();
    if (auto st = d->open_socket(); !st) return st.error();
    return std::unique_ptr<Daemon>(std::move(d));
}

} // namespace llmpt::daemon
