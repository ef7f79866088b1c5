#include "endpoint/endpoint.hpp"

#include "cache/layout.hpp"
#include "endpoint/job.hpp"
#include "endpoint/meta_cache.hpp"
#include "endpoint/stream.hpp"
#include "endpoint/policy.hpp"
#include "http/client.hpp"
#include "serve/routes.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"
#include "util/url.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace llmpt::endpoint {
namespace {

namespace fs = std::filesystem;
using server::Request;
using server::Response;
using SysClock = std::chrono::system_clock;

constexpr std::size_t kMaxJobs = 1024; // snapshots the endpoint keeps a job for

Response hub_error(int status, const std::string& message) {
    auto r = Response::json_error(status, message);
    r.header("X-Error-Message", message);
    return r;
}

std::string bearer(const Request& req) {
    const auto auth = req.header("authorization");
    return auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : std::string();
}

// A task's FileWatch: tells the job, and wakes the streams.
class SlotWatch final : public FileWatch {
public:
    // The watch may outlive the endpoint (the task goes on): it holds what it uses.
    SlotWatch(std::shared_ptr<Job> job, std::size_t slot, std::shared_ptr<Pump> pump)
        : job_(std::move(job)), slot_(slot), pump_(std::move(pump)) {}
    void progress(const std::string& path, const fs::path& file, std::uint64_t prefix) override {
        job_->progress(path, file, prefix);
        pump_->wake();
    }
    void placed(const std::string& path, const fs::path& where) override {
        job_->placed(path, where);
        pump_->wake();
    }
    void ended(bool ok) override {
        job_->slot_ended(slot_, ok);
        pump_->wake();
    }
    std::vector<std::pair<std::string, std::uint64_t>> waiting() override { return job_->waiting(); }

private:
    std::shared_ptr<Job> job_;
    std::size_t slot_;
    std::shared_ptr<Pump> pump_;
};

// An answer of the Hub (live or from the metadata cache).
struct Answer {
    int status = 0;
    http::Headers headers;
    std::string body;
    bool cached = false;
};

class EndpointImpl final : public Endpoint {
public:
    explicit EndpointImpl(Options o)
        : o_(std::move(o)), upstream_(util::trim_trailing_slashes(o_.upstream)), meta_(o_.state_dir / "hub-cache") {}
    ~EndpointImpl() override { stop(); }

    std::uint16_t port() const override { return http_ ? http_->port() : 0; }
    void stop() override {
        if (http_) http_->stop();
        pump_->stop();
    }

    Response handle(const Request& req) {
        const auto route = serve::parse_route(req.method, req.path);
        if (req.path.find("..") != std::string::npos && !route) return hub_error(400, "invalid path");
        if (!route || route->route == serve::Route::cdn) {
            if (req.method != "GET" && req.method != "HEAD")
                return hub_error(501, "llmpt's endpoint answers downloads only: " + req.method + " " + req.path +
                                          " is not passed to the Hub (use the Hub itself for uploads and edits)");
            return pass_through(req);
        }
        if (route->route == serve::Route::resolve) return resolve(req, *route);
        return metadata(req, *route);
    }

    void attach(std::unique_ptr<server::HttpServer> http) { http_ = std::move(http); }

private:
    std::string our_base(const Request& req) const {
        const auto host = req.header("host");
        return "http://" + (host.empty() ? "127.0.0.1:" + std::to_string(port()) : host);
    }

    Response respond(const Request& req, const Answer& a) const {
        Response r;
        r.status = a.status;
        r.body = req.method == "HEAD" ? std::string() : a.body;
        r.headers = passed_headers(a.headers, upstream_, our_base(req));
        if (a.cached) r.header("X-Llmpt-Cache", "hit");
        return r;
    }

    Result<Answer> ask_upstream(const std::string& method, const std::string& target, const Request& req,
                                bool follow) const {
        http::Request up;
        up.method = method;
        up.url = upstream_ + target;
        up.body = method == "POST" ? req.body : std::string();
        up.follow_redirects = follow;
        up.total_timeout = std::chrono::seconds(60);
        for (const char* h : {"authorization", "content-type", "accept", "user-agent"})
            if (const auto v = req.header(h); !v.empty()) up.headers.push_back(std::string(h) + ": " + v);
        auto r = http::perform(up);
        if (!r) return r.error();
        return Answer{r->status, std::move(r->headers), std::move(r->body), false};
    }

    // The Hub's answer to `method target`, through the metadata cache.
    Result<Answer> cached_ask(const std::string& method, const std::string& target, const Request& req,
                              bool pinned, const std::function<Result<Answer>()>& live) {
        const auto key = MetaCache::key(method, target, method == "POST" ? req.body : "", req.header("authorization"));
        const auto entry = meta_.get(key);
        const auto use = entry ? cache_use(pinned, std::chrono::duration_cast<std::chrono::seconds>(
                                                       SysClock::now() - entry->stored),
                                           o_.branch_ttl)
                               : CacheUse::no;
        const auto from_cache = [&] { return Answer{entry->status, entry->headers, entry->body, true}; };
        if (use == CacheUse::first) return from_cache();
        auto a = live();
        if (a && a->status < 500) {
            if (a->status >= 200 && a->status < 400) meta_.put(key, {a->status, a->headers, a->body, SysClock::now()});
            return a;
        }
        if (use == CacheUse::if_upstream_down) return from_cache();
        if (a) return a; // the Hub's own 5xx
        return Error(errc::network, "the Hub (" + upstream_ + ") cannot be reached: " + a.error().message);
    }

    // The file list of a commit the cache keeps (the download's manifest):
    // what the Hub's answers about that commit are made of while it is down.
    std::optional<std::vector<cache::ManifestEntry>> listed(const RepoRef& repo, const std::string& revision) const {
        const auto commit = CommitId::parse(revision);
        if (!commit) return std::nullopt;
        return cache::read_manifest(cache::RepoCache(o_.cache_dir, repo), *commit);
    }

    Response metadata(const Request& req, const serve::Parsed& route) {
        const bool pinned = pinned_revision(route.revision);
        auto a = cached_ask(req.method, req.target, req, pinned,
                            [&] { return ask_upstream(req.method, req.target, req, true); });
        if (!a && a.error().code == errc::network && pinned && route.route == serve::Route::revision) {
            const auto id = RepoId::parse(route.repo);
            if (const auto files = id ? listed(RepoRef{route.type, *id}, route.revision) : std::nullopt) {
                std::vector<std::string> paths;
                for (const auto& f : *files) paths.push_back(f.path);
                a = Answer{200, {{"content-type", "application/json"}},
                           listed_revision_body(route.repo, *CommitId::parse(route.revision), paths), true};
            }
        }
        if (!a) return hub_error(502, a.error().what());
        if (a->status == 200) note_answer(req, route, *a, pinned);
        return respond(req, *a);
    }

    // What a metadata answer tells its snapshot's job: the commit a branch
    // points at (the cache's refs/ learn it once that snapshot is fetched),
    // and the snapshot's file list (what a first task takes, selection_for).
    void note_answer(const Request& req, const serve::Parsed& route, const Answer& a, bool pinned) {
        const auto id = RepoId::parse(route.repo);
        if (!id) return;
        std::optional<CommitId> commit;
        std::optional<std::vector<std::string>> paths;
        bool ref = false;
        if (route.route == serve::Route::revision) {
            if (pinned) {
                commit = CommitId::parse(route.revision);
            } else {
                const auto j = nlohmann::json::parse(a.body, nullptr, false);
                if (j.is_object() && j.contains("sha") && j["sha"].is_string())
                    commit = CommitId::parse(j["sha"].get<std::string>());
            }
            ref = !pinned && !a.cached;
            paths = listed_paths(true, a.body);
        } else if (route.route == serve::Route::tree && pinned && route.path.empty() && whole_tree(req.target, a.headers)) {
            commit = CommitId::parse(route.revision);
            paths = listed_paths(false, a.body);
        }
        if (!commit || (!ref && !paths)) return;
        const auto job = job_for(RepoRef{route.type, *id}, *commit, bearer(req));
        if (ref) job->note_ref(route.revision);
        if (paths) job->note_listing(*paths);
    }

    Response pass_through(const Request& req) {
        auto a = ask_upstream(req.method, req.target, req, false);
        if (!a) return hub_error(502, "the Hub (" + upstream_ + ") cannot be reached: " + a.error().message);
        auto r = respond(req, *a);
        if (const auto it = a->headers.find("location"); it != a->headers.end()) r.header("Location", it->second);
        return r;
    }

    // HEAD of a resolve without following the CDN redirect; a relative
    // redirect (a renamed repo) is followed here.
    Result<Answer> head_resolve(const Request& req) const {
        std::string target = req.path;
        for (int hops = 0;; ++hops) {
            auto a = ask_upstream("HEAD", target, req, false);
            if (!a || a->status < 300 || a->status >= 400 || hops == 3) return a;
            const auto loc = a->headers.find("location");
            if (loc == a->headers.end() || loc->second.empty() || loc->second[0] != '/') return a;
            if (a->headers.count("x-linked-etag") || a->headers.count("x-repo-commit")) return a; // the file's own redirect
            target = loc->second;
        }
    }

    // A branch's answer is the commit's answer too: kept under the commit's
    // request, so that a client asking by commit later is answered while
    // the Hub is down.
    void remember_as_commit(const Request& req, const Answer& a, const CommitId& commit) const {
        const auto at = req.path.find("/resolve/");
        if (at == std::string::npos) return;
        const auto rev_start = at + 9;
        const auto rev_end = req.path.find('/', rev_start);
        if (rev_end == std::string::npos) return;
        const auto target = req.path.substr(0, rev_start) + commit.str() + req.path.substr(rev_end);
        meta_.put(MetaCache::key("HEAD", target, "", req.header("authorization")),
                  {a.status, a.headers, a.body, SysClock::now()});
    }

    Response resolve(const Request& req, const serve::Parsed& route) {
        const auto id = RepoId::parse(route.repo);
        if (!id) return hub_error(404, "Repository not found");
        const RepoRef repo{route.type, *id};
        auto a = cached_ask("HEAD", req.path, req, pinned_revision(route.revision), [&] { return head_resolve(req); });
        if (!a && a.error().code == errc::network && pinned_revision(route.revision)) {
            if (const auto files = listed(repo, route.revision)) {
                const auto f = std::find_if(files->begin(), files->end(),
                                            [&](const auto& e) { return e.path == route.path; });
                if (f != files->end())
                    a = Answer{200, listed_file_headers(*CommitId::parse(route.revision), f->etag, f->size), {}, true};
                else
                    a = Answer{404, {{"x-error-code", "EntryNotFound"},
                                     {"x-error-message", route.path + " is not in " + route.repo + " at " + route.revision}},
                               {}, true};
            }
        }
        if (!a) return hub_error(502, a.error().what());
        if (a->status >= 400) {
            // The Hub's error (401/403 gated, 404 missing) as it was sent;
            // a HEAD has no body, so a GET gets the message as the Hub's JSON.
            auto r = respond(req, *a);
            if (req.method == "GET" && r.body.empty()) {
                const auto msg = a->headers.count("x-error-message") ? a->headers.at("x-error-message")
                                                                       : std::string("error from the Hub");
                r.body = nlohmann::json{{"error", msg}}.dump();
            }
            return r;
        }
        const auto meta = file_meta(a->headers);
        const auto commit = CommitId::parse(meta.commit);
        if (!meta.etag || !meta.size || !commit)
            return hub_error(502, "the Hub's answer for " + route.path + " names no commit, etag or size");
        if (!a->cached && !pinned_revision(route.revision)) remember_as_commit(req, *a, *commit);

        Response r;
        r.headers = meta.headers;
        r.header("Accept-Ranges", "bytes");
        r.header("Content-Type", "application/octet-stream");
        const std::uint64_t size = *meta.size;
        const cache::RepoCache cache(o_.cache_dir, repo);
        const auto blob = cache.blob_path(*meta.etag);
        if (req.method == "HEAD") {
            r.header("Content-Length", std::to_string(size));
            return r;
        }
        std::uint64_t first = 0, last = size == 0 ? 0 : size - 1;
        if (const auto range = req.header("range"); !range.empty() && size > 0 && !mismatched(*meta.etag)) {
            const auto spec = serve::parse_range(range, size);
            if (!spec) {
                auto e = hub_error(416, "range not satisfiable");
                e.header("Content-Range", "bytes */" + std::to_string(size));
                return e;
            }
            first = spec->first;
            last = spec->last;
            if (first != 0 || last != size - 1) {
                r.status = 206;
                r.header("Content-Range", fmt::format("bytes {}-{}/{}", first, last, size));
            }
        }
        if (const auto n = util::regular_file_size(blob); n && *n == size) {
            auto fd = util::open_fd(blob, O_RDONLY);
            if (!fd) return hub_error(500, "cannot open " + blob.string());
            r.file = server::FileRegion{fd->release(), first, size == 0 ? 0 : last - first + 1};
            return r;
        }
        if (size == 0) return r; // nothing to fetch: an empty body
        auto job = job_for(repo, *commit, bearer(req));
        if (auto st = job->cover(route.path, route.revision); !st)
            return hub_error(503, "cannot start the download of " + route.path + ": " + st.error().what());
        r.header("Content-Length", std::to_string(last - first + 1));
        r.stream = file_stream(StreamSpec{route.path, blob, *meta.etag, size, first, last}, job, pump_,
                               [this](const Etag& e) { mismatch(e); });
        return r;
    }

    // The job of one snapshot; its tasks download with the token of the
    // client that asked (the Hub accepted that token for this file).
    std::shared_ptr<Job> job_for(const RepoRef& repo, const CommitId& commit, const std::string& token) {
        std::lock_guard lk(mu_);
        std::erase_if(jobs_, [](const auto& kv) { return kv.second.use_count() == 1 && kv.second->idle(); });
        // Branch notes of snapshots nobody downloaded are forgotten past a bound.
        if (jobs_.size() >= kMaxJobs)
            std::erase_if(jobs_, [](const auto& kv) { return kv.second.use_count() == 1 && !kv.second->running(); });
        auto& j = jobs_[repo.folder_name() + "@" + commit.str() + "@" + util::sha256_hex(token)];
        if (j) return j;
        daemon::TaskRequest t;
        t.repo = repo.id.str();
        t.repo_type = repo.type;
        t.revision = commit.str();
        t.cache_dir = o_.cache_dir.string();
        t.endpoint = upstream_;
        t.token = token;
        // Tasks' watches may outlive the endpoint: the starter holds copies.
        j = std::make_shared<Job>([t, submit = o_.submit, pump = pump_, log = o_.log](
                                      const std::shared_ptr<Job>& job, std::size_t slot, const Selection& sel) {
            auto req = t;
            req.files = sel.files;
            req.include = sel.include;
            req.exclude = sel.exclude;
            if (auto st = submit(req, std::make_shared<SlotWatch>(job, slot, pump)); !st) {
                if (log) log("endpoint: cannot start the download of " + t.repo + "@" + t.revision + ": " + st.error().what());
                return false;
            }
            if (log) log("endpoint: downloading " + t.repo + "@" + t.revision + (sel.files.empty() ? "" : " " + sel.files[0]));
            return true;
        }, [cache = cache::RepoCache(o_.cache_dir, repo), commit](const std::set<std::string>& refs) {
            for (const auto& ref : refs)
                if (cache::safe_revision(ref)) (void)cache.write_ref(ref, commit);
        });
        return j;
    }

    // A stream was cut because what it sent did not hash to the etag: a
    // client resuming that download must start over, so ranges of that
    // file are answered with the whole file from now on.
    void mismatch(const Etag& e) {
        std::lock_guard lk(mu_);
        mismatched_.insert(e.str());
        if (o_.log) o_.log("endpoint: cut a stream of " + e.str() + ": its bytes changed while streaming");
    }
    bool mismatched(const Etag& e) const {
        std::lock_guard lk(mu_);
        return mismatched_.count(e.str()) > 0;
    }

    Options o_;
    const std::string upstream_;
    const MetaCache meta_;
    const std::shared_ptr<Pump> pump_ = std::make_shared<Pump>();
    mutable std::mutex mu_; // jobs_, mismatched_
    std::map<std::string, std::shared_ptr<Job>> jobs_;
    std::set<std::string> mismatched_;
    std::unique_ptr<server::HttpServer> http_; // last: stopped first
};

} // namespace

Result<std::unique_ptr<Endpoint>> Endpoint::start(Options o, server::Options listen) {
    if (o.upstream.empty()) return Error(errc::usage, "the endpoint needs an upstream Hub");
    if (!o.submit) return Error(errc::usage, "the endpoint needs a way to start downloads");
    http::global_init();
    auto impl = std::make_unique<EndpointImpl>(std::move(o));
    auto* raw = impl.get();
    auto http = server::HttpServer::start(listen, [raw](const Request& r) { return raw->handle(r); });
    if (!http) return http.error();
    impl->attach(std::move(*http));
    return std::unique_ptr<Endpoint>(std::move(impl));
}

} // namespace llmpt::endpoint
