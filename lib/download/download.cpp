// llmpt::download(): resolve against the Hub, plan, fetch what is missing,
// verify, place into the cache, then write refs/ last (docs/design.md, "A download").
//
// Longer than our ~400-line norm: it is the one place where the steps of a
// download meet (offline answer, selection, space check, cold start, peers,
// then HTTP into the cache with two-pass blob locking or into a local dir);
// each step's machinery lives in its own file (cohort, p2p, fetcher,
// destination, torrent_lookup).
#include <llmpt/download.hpp>

#include "cache/layout.hpp"
#include "cache/verified.hpp"
#include "download/cohort.hpp"
#include "download/download_with.hpp"
#include "download/fetcher.hpp"
#include "download/hand_over.hpp"
#include "download/p2p.hpp"
#include "download/plan.hpp"
#include "download/torrent_lookup.hpp"
#include "p2p/session.hpp"
#include "hub/hub.hpp"
#include "hub/listed.hpp"
#include "torrent/parts.hpp"
#include "util/fd.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <set>

namespace llmpt {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using fetch::Wanted;

// Events raised on worker threads wait here until the caller's thread
// delivers them.
class EventQueue {
public:
    void push(Event e) {
        std::lock_guard lk(mu_);
        q_.push_back(std::move(e));
    }
    void drain(const EventHandler& h) {
        std::deque<Event> q;
        {
            std::lock_guard lk(mu_);
            q.swap(q_);
        }
        if (h)
            for (auto& e : q) h(e);
    }

private:
    std::mutex mu_;
    std::deque<Event> q_;
};

// Folders a failed download created, so that a disk or integrity failure
// can leave the cache as it found it.
class CreatedDirs {
public:
    void note(const fs::path& p) {
        std::error_code ec;
        if (!fs::exists(p, ec)) created_.push_back(p);
    }
    void remove_if_empty() {
        std::error_code ec;
        for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
            if (it->filename() == "CACHEDIR.TAG") fs::remove(*it, ec);
            else if (fs::is_directory(*it, ec) && fs::is_empty(*it, ec)) fs::remove(*it, ec);
        }
    }

private:
    std::vector<fs::path> created_;
};

class Download {
public:
    // `session`: the caller's; null: one is started if peers have the snapshot.
    // `hub`: the Hub to ask; null: the Hub at settings.endpoint.
    Download(Session* session, hub::HubApi* hub, const Settings& s, const DownloadRequest& r, const EventHandler& h)
        : session_(session), hub_(hub), settings_(s), req_(r), on_event_(h), start_(Clock::now()) {}

    Result<DownloadResult> run();

private:
    Status validate();
    Result<DownloadResult> offline(const std::string& why);
    // The Hub unreachable (`why`): the snapshot from the cache alone, or the
    // rest of it from peers when the cache keeps the commit's file list.
    Result<DownloadResult> without_hub(const hub::HubApi& live, const std::string& why);
    // Everything after the revision resolved; `hub_live`: a network failure
    // may still be answered without the Hub.
    Result<DownloadResult> fetch_commit(hub::HubApi& hub, const CommitId& commit, bool hub_live);
    Result<std::vector<hub::RemoteFile>> select(hub::HubApi& hub, const CommitId& commit);
    Status check_space(const std::vector<Wanted>& todo, const fs::path& dir);
    void remember_verified(const std::vector<Etag>& fetched) const;
    Status fetch_into_cache(hub::HubApi& hub, const CommitId& commit, std::vector<Wanted> todo);
    Status fetch_into_local_dir(hub::HubApi& hub, const CommitId& commit, std::vector<Wanted> todo);
    Status run_fetcher(fetch::Fetcher& fetcher);
    // What the fetcher calls with a verified temp file of `w`.
    fetch::PlaceFn placer(const fetch::Destination& dest, const Wanted& w) {
        return [this, &dest, w](const fetch::FetchTarget&, const fs::path& tmp) {
            return dest.place(w, tmp, fetch::Destination::From::fetcher,
                              [this](const std::string& p, const fs::path& local, std::uint64_t size) { ready(p, local, size); });
        };
    }
    Result<std::vector<Wanted>> fetch_from_peers(hub::HubApi& hub, const CommitId& commit,
                                                 const fetch::Destination& dest, std::vector<Wanted> todo);
    // The cold start: the torrent a cohort published, or nullopt with what
    // staging holds of this node's share handed to HTTP.
    Result<std::optional<std::string>> cold_start(hub::HubApi& hub, const CommitId& commit,
                                                  const fetch::Destination& dest, const std::vector<Wanted>& todo,
                                                  const fetch::FullList& full_list);
    void tick(const fetch::Fetcher& fetcher);
    void ready(const std::string& path, const fs::path& local, std::uint64_t size);
    void watch(fetch::Fetcher& fetcher) const; // DownloadRequest::watch follows its files
    DownloadResult finish(const CommitId& commit, fs::path path);

    Session* session_;
    std::unique_ptr<Session> own_session_; // started here when the caller gave none
    hub::HubApi* hub_;
    Settings settings_;
    const DownloadRequest& req_;
    const EventHandler& on_event_;
    Clock::time_point start_;
    std::optional<RepoRef> repo_;
    std::optional<cache::RepoCache> cache_;
    EventQueue events_;
    CreatedDirs created_;

    std::optional<std::vector<cache::ManifestEntry>> manifest_; // the commit's full list, if fetched
    std::optional<std::vector<hub::RemoteFile>> all_files_;     // the same, as the Hub gave it
    std::size_t files_ = 0;
    std::uint64_t bytes_total_ = 0, bytes_cached_ = 0, bytes_http_ = 0, bytes_p2p_ = 0, bytes_webseed_ = 0;
    std::uint64_t bytes_share_ = 0; // of bytes_http_: this node's cohort share
    fetch::StagedShare share_; // the share's pieces and prefixes, as this node hashed them
    std::uint64_t handed_over_ = 0; // P2P (or share) bytes the HTTP fetcher finds as resume state
    bool seeding_ = false;          // the torrent was parked in the session (DownloadResult::seeding)
    std::vector<std::pair<fs::path, fs::path>> staged_; // handed over: staging name, where HTTP places it
    fs::path staging_;
    std::deque<std::pair<Clock::time_point, std::uint64_t>> rate_window_;
};

Status Download::validate() {
    auto id = RepoId::parse(req_.repo);
    if (!id) return id.error();
    repo_ = RepoRef{req_.repo_type, *id};
    if (!cache::safe_revision(req_.revision))
        return Error(errc::usage, "invalid revision", req_.revision);
    for (const auto& f : req_.files)
        if (!hub::safe_repo_path(f)) return Error(errc::usage, "invalid file path", f);
    if (settings_.cache_dir.empty()) settings_.cache_dir = default_cache_dir();
    cache_.emplace(settings_.cache_dir, *repo_);
    return ok();
}

// The snapshot from the cache alone: HF_HUB_OFFLINE, or the Hub unreachable.
Result<DownloadResult> Download::offline(const std::string& why) {
    const auto what = req_.repo + "@" + req_.revision;
    if (!req_.local_dir.empty()) {
        std::error_code ec;
        if (fs::is_directory(cache::local_dir_meta_dir(req_.local_dir), ec)) {
            DownloadResult r;
            r.repo = req_.repo;
            r.path = req_.local_dir;
            r.offline = true;
            return r;
        }
        return Error(errc::network, why + "; " + req_.local_dir.string() + " holds no download of " + what);
    }
    const auto commit = cache_->resolve_offline(req_.revision);
    if (!commit)
        return Error(errc::network,
                     why + "; " + what + " is not in the cache at " + settings_.cache_dir.string());
    // What the selection should hold: from the commit's manifest when we have
    // it (so a partial snapshot is not mistaken for a complete one), else
    // whatever the snapshot holds, as huggingface_hub does.
    std::vector<std::string> wanted;
    if (!req_.files.empty()) {
        wanted = req_.files;
    } else if (auto manifest = cache::read_manifest(*cache_, *commit)) {
        for (const auto& e : *manifest)
            if (path_selected(e.path, req_.include, req_.exclude)) wanted.push_back(e.path);
    } else {
        auto files = cache_->snapshot_files(*commit);
        if (!files) return Error(errc::network, why + "; " + files.error().message);
        for (const auto& [path, _] : *files)
            if (path_selected(path, req_.include, req_.exclude)) wanted.push_back(path);
    }
    std::size_t n = 0;
    std::uint64_t bytes = 0;
    for (const auto& path : wanted) {
        std::error_code ec;
        const auto size = fs::file_size(cache_->snapshot_dir(*commit) / path, ec);
        if (ec || !cache_->snapshot_has(*commit, path))
            return Error(errc::network, why + "; " + what + " is incomplete in the cache (no " + path + ")");
        ++n;
        bytes += size;
    }
    files_ = n;
    bytes_total_ = bytes_cached_ = bytes;
    auto r = finish(*commit, cache_->snapshot_dir(*commit));
    r.offline = true;
    return r;
}

Result<std::vector<hub::RemoteFile>> Download::select(hub::HubApi& hub, const CommitId& commit) {
    if (req_.files.empty()) {
        auto all = hub.list_files(*repo_, commit);
        if (!all) return all.error();
        manifest_.emplace();
        for (const auto& f : *all) manifest_->push_back({f.path, f.etag, f.size});
        all_files_ = *all;
        std::vector<hub::RemoteFile> out;
        for (auto& f : *all)
            if (path_selected(f.path, req_.include, req_.exclude)) out.push_back(std::move(f));
        return out;
    }
    auto found = hub.paths_info(*repo_, commit, req_.files);
    if (!found && found.error().code == errc::failure) {
        // An endpoint without paths-info (some mirrors): one HEAD per file.
        found = std::vector<hub::RemoteFile>{};
        for (const auto& want : req_.files) {
            auto meta = hub.file_metadata(*repo_, commit, want);
            if (meta) found->push_back(std::move(*meta));
            else if (meta.error().code != errc::not_found) return meta.error();
        }
    }
    if (!found) return found.error();
    std::map<std::string, hub::RemoteFile> by_path;
    for (auto& f : *found) by_path.emplace(f.path, std::move(f));
    std::vector<hub::RemoteFile> out;
    for (const auto& want : req_.files) {
        auto it = by_path.find(want);
        if (it == by_path.end()) {
            if (req_.local_dir.empty()) {
                (void)cache_->ensure_layout();
                (void)cache_->mark_no_exist(commit, want);
            }
            return Error(errc::not_found,
                         "file " + want + " not found in " + req_.repo + " at " + commit.str());
        }
        out.push_back(it->second);
    }
    return out;
}

Status Download::check_space(const std::vector<Wanted>& todo, const fs::path& dir) {
    std::uint64_t need = 0;
    for (const auto& w : todo) need += w.file.size;
    struct statvfs st {};
    if (need == 0 || ::statvfs(dir.c_str(), &st) != 0) return ok();
    const auto avail = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
    if (avail < need)
        return Error(errc::disk,
                     "not enough disk space: need " + human_bytes(need) + ", " + human_bytes(avail) + " free",
                     dir.string());
    return ok();
}

void Download::ready(const std::string& path, const fs::path& local, std::uint64_t size) {
    if (req_.watch) req_.watch->placed(path, local);
    events_.push(FileReadyEvent{path, local.string(), size});
}

void Download::watch(fetch::Fetcher& fetcher) const {
    if (!req_.watch) return;
    fetcher.on_hashed([w = req_.watch](const std::string& path, const fs::path& tmp, std::uint64_t prefix) {
        w->progress(path, tmp, prefix);
    });
}

void Download::tick(const fetch::Fetcher& fetcher) {
    events_.drain(on_event_);
    if (!on_event_) return;
    const auto now = Clock::now();
    const auto fetched = fetcher.stats().fetched.load();
    rate_window_.emplace_back(now, fetched);
    while (rate_window_.size() > 2 && now - rate_window_.front().first > std::chrono::seconds(3))
        rate_window_.pop_front();
    ProgressEvent p;
    p.bytes_total = bytes_total_;
    p.bytes_done = std::min(bytes_total_, bytes_cached_ + bytes_http_ + fetcher.stats().resumed + fetched);
    const auto span = std::chrono::duration<double>(now - rate_window_.front().first).count();
    if (span > 0) p.rate = static_cast<double>(fetched - rate_window_.front().second) / span;
    p.active = fetcher.active();
    on_event_(p);
}

Status Download::run_fetcher(fetch::Fetcher& fetcher) {
    rate_window_.clear();
    auto st = fetcher.run([&] { tick(fetcher); });
    bytes_http_ += fetcher.stats().fetched.load();
    const auto resumed = fetcher.stats().resumed.load();
    const auto from_peers = std::min(resumed, handed_over_); // counted as P2P already
    bytes_cached_ += resumed - from_peers;
    handed_over_ -= from_peers;
    events_.drain(on_event_);
    return st;
}

Result<std::vector<Wanted>> Download::fetch_from_peers(hub::HubApi& hub, const CommitId& commit,
                                                       const fetch::Destination& dest, std::vector<Wanted> todo) {
    if (todo.empty()) return todo;
    const auto full_list = [&]() -> Result<std::vector<hub::RemoteFile>> {
        if (!all_files_) {
            auto all = hub.list_files(*repo_, commit);
            if (!all) return all.error();
            all_files_ = std::move(*all);
        }
        return *all_files_;
    };
    const auto warn = [this](const std::string& m) { events_.push(WarningEvent{m}); };
    auto lookup = fetch::find_torrent(settings_, *repo_, commit, full_list, warn);
    if (!lookup.torrent && lookup.unpublished) {
        auto cold = cold_start(hub, commit, dest, todo, full_list);
        if (!cold) return cold.error();
        lookup.torrent = std::move(*cold);
    }
    const auto& torrent = lookup.torrent;
    if (!torrent) return todo;
    if (!session_) {
        auto started = Session::start(settings_);
        if (!started) {
            warn(started.error().what() + "; downloading over HTTP");
            return todo;
        }
        own_session_ = std::move(*started);
        session_ = own_session_.get();
    }
    fetch::P2PCallbacks cb;
    cb.warn = warn;
    cb.ready = [this](const std::string& p, const fs::path& local, std::uint64_t size) { ready(p, local, size); };
    cb.progress = [this](std::uint64_t done_now, std::vector<std::string> active) {
        events_.drain(on_event_);
        if (!on_event_) return;
        ProgressEvent e;
        e.bytes_total = bytes_total_;
        e.bytes_done = std::min(bytes_total_, bytes_cached_ + done_now);
        e.active = std::move(active);
        on_event_(e);
    };
    const fetch::PeerJob job{settings_, *repo_, commit, dest, hub, req_.cancel, req_.watch.get(), &share_,
                             req_.keep_seeding};
    auto outcome = fetch::fetch_p2p(p2p::internal(*session_), job, *torrent, std::move(todo), cb);
    events_.drain(on_event_);
    if (!outcome) return outcome.error();
    bytes_p2p_ += outcome->bytes_p2p;
    bytes_webseed_ += outcome->bytes_webseed;
    // The share this node fetched for a cohort is in staging, but it came
    // over HTTP in this run: not cached.
    bytes_cached_ += outcome->bytes_cached - std::min(outcome->bytes_cached, bytes_share_);
    handed_over_ += outcome->handed_over;
    seeding_ = seeding_ || outcome->parked;
    for (auto& s : outcome->staged) staged_.push_back(std::move(s));
    staging_ = dest.staging_root() / commit.str();
    return std::move(outcome->remaining);
}

Result<std::optional<std::string>> Download::cold_start(hub::HubApi& hub, const CommitId& commit,
                                                        const fetch::Destination& dest,
                                                        const std::vector<Wanted>& todo,
                                                        const fetch::FullList& full_list) {
    // Only a download of the whole snapshot into the cache takes part: a
    // cohort shares every file, and the torrent it makes is the snapshot's.
    const bool whole = req_.files.empty() && req_.include.empty() && req_.exclude.empty();
    if (!settings_.p2p_cohort || !whole || !req_.local_dir.empty()) return std::optional<std::string>{};
    auto files = full_list();
    if (!files) return std::optional<std::string>{};
    const auto warn = [this](const std::string& m) { events_.push(WarningEvent{m}); };
    std::set<std::string> wanted;
    for (const auto& w : todo)
        for (const auto& p : w.paths) wanted.insert(p);
    fetch::CohortJob job{settings_, *repo_, commit, dest, hub, *files, {}, req_.cancel};
    for (const auto& f : *files)
        if (!wanted.count(f.path)) job.cached[f.path] = cache_->blob_path(f.etag);
    fetch::CohortCallbacks cb;
    cb.warn = warn;
    cb.progress = [&](std::uint64_t fetched) {
        events_.drain(on_event_);
        if (!on_event_) return;
        ProgressEvent e;
        e.bytes_total = bytes_total_;
        e.bytes_done = std::min(bytes_total_, bytes_cached_ + fetched);
        on_event_(e);
    };
    auto out = fetch::run_cohort(job, cb);
    events_.drain(on_event_);
    if (!out) return out.error();
    bytes_share_ = out->share_bytes;
    share_ = std::move(out->staged);
    bytes_http_ += out->share_bytes;
    using End = fetch::CohortOutcome::End;
    if (out->end == End::published) {
        auto published = fetch::find_torrent(settings_, *repo_, commit, full_list, warn, false);
        if (published.torrent) return published.torrent;
    }
    // No swarm to finish it: the share's pieces are the HTTP fetcher's
    // resume state, nothing is fetched twice.
    for (const auto& w : todo) {
        const auto it = share_.pieces.find(w.file.path);
        if (it == share_.pieces.end()) continue;
        std::vector<bool> have(torrent::pieces_in(w.file.size, out->piece_length), false);
        for (const auto& [piece, _] : it->second)
            if (piece < have.size()) have[piece] = true;
        const auto staged = dest.staging_root() / commit.str() / w.file.path;
        if (const auto n = fetch::hand_over(dest, w, staged, out->piece_length, have); n > 0) {
            handed_over_ += n;
            staged_.emplace_back(staged, dest.placed_path(w));
        }
    }
    staging_ = dest.staging_root() / commit.str();
    return std::optional<std::string>{};
}

Status Download::fetch_into_cache(hub::HubApi& hub, const CommitId& commit, std::vector<Wanted> todo) {
    const auto warn = [this](const std::string& m) { events_.push(WarningEvent{m}); };
    const auto dest = fetch::cache_destination(*cache_, commit);
    cache::sweep_staging(*cache_);
    if (settings_.p2p && !settings_.tracker.empty()) {
        auto rest = fetch_from_peers(hub, commit, *dest, std::move(todo));
        if (!rest) return rest.error();
        todo = std::move(*rest);
    }
    std::map<std::string, cache::FileLock> locks; // etag -> lock held while we write it
    std::vector<Wanted> deferred;
    // Two passes: blobs nobody else is writing, then the ones another process
    // was writing (by then usually done, so they are only linked).
    for (int pass = 0; pass < 2 && !todo.empty(); ++pass) {
        fetch::Fetcher fetcher(settings_, hub.auth_headers(), req_.cancel, warn);
        watch(fetcher);
        for (auto& w : todo) {
            const auto& etag = w.file.etag;
            auto lock = cache::FileLock::try_lock(cache_->lock_path(etag));
            if (lock && !lock->held() && pass == 1) {
                events_.push(WarningEvent{"waiting for another process writing " + w.file.path +
                                          " (lock " + cache_->lock_path(etag).string() + ")"});
                events_.drain(on_event_);
                lock = cache::FileLock::lock(cache_->lock_path(etag), settings_.lock_timeout,
                                             "blob " + etag.str() + " (" + w.file.path + ")", req_.cancel);
            }
            if (!lock) return lock.error();
            if (!lock->held()) {
                deferred.push_back(std::move(w));
                continue;
            }
            if (cache_->has_blob(etag, w.file.size)) { // another process finished it
                bytes_cached_ += w.file.size;
                for (const auto& p : w.paths) {
                    if (auto st = cache_->link_snapshot(commit, p, etag); !st) return st;
                    ready(p, cache_->snapshot_dir(commit) / p, w.file.size);
                }
                continue;
            }
            locks.emplace(etag.str(), std::move(*lock));
            const auto spot = dest->resume_spot(w);
            fetch::FetchTarget t{w.file.path, hub.file_url(*repo_, commit, w.file.path), w.file.size,
                                 etag,        spot.tmp_dir, spot.tmp_stem, spot.journal};
            fetcher.add(std::move(t), placer(*dest, w));
        }
        auto st = run_fetcher(fetcher);
        locks.clear();
        if (!st) return st;
        todo = std::move(deferred);
        deferred.clear();
    }
    return ok();
}

Status Download::fetch_into_local_dir(hub::HubApi& hub, const CommitId& commit, std::vector<Wanted> todo) {
    const auto warn = [this](const std::string& m) { events_.push(WarningEvent{m}); };
    const auto dest = fetch::local_dir_destination(req_.local_dir, commit);
    if (settings_.p2p && !settings_.tracker.empty()) {
        auto rest = fetch_from_peers(hub, commit, *dest, std::move(todo));
        if (!rest) return rest.error();
        todo = std::move(*rest);
    }
    fetch::Fetcher fetcher(settings_, hub.auth_headers(), req_.cancel, warn);
    watch(fetcher);
    std::vector<cache::FileLock> locks;
    for (const auto& w : todo) {
        const auto& f = w.file;
        const auto spot = dest->resume_spot(w);
        std::error_code ec;
        fs::create_directories(spot.tmp_dir, ec);
        if (ec) return util::errno_error(ec.value(), "cannot create folder", spot.tmp_dir.string());
        auto lock = cache::FileLock::lock(dest->lock_path(w), settings_.lock_timeout, f.path, req_.cancel);
        if (!lock) return lock.error();
        locks.push_back(std::move(*lock));
        fetch::FetchTarget t{f.path, hub.file_url(*repo_, commit, f.path), f.size, f.etag,
                             spot.tmp_dir, spot.tmp_stem, spot.journal};
        fetcher.add(std::move(t), placer(*dest, w));
    }
    return run_fetcher(fetcher);
}

DownloadResult Download::finish(const CommitId& commit, fs::path path) {
    DownloadResult r;
    r.repo = req_.repo;
    r.commit = commit;
    r.path = std::move(path);
    r.files = files_;
    r.bytes_total = bytes_total_;
    r.bytes_http = bytes_http_;
    r.bytes_p2p = bytes_p2p_;
    r.bytes_webseed = bytes_webseed_;
    r.bytes_share = bytes_share_;
    r.bytes_cached = std::min(bytes_cached_, bytes_total_);
    r.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    r.seeding = seeding_;
    return r;
}

// Every blob placed this run matched the Hub's hash: a seeder of this cache
// (`llmpt seed`, the daemon) need not hash it again. Best effort.
void Download::remember_verified(const std::vector<Etag>& fetched) const {
    if (fetched.empty()) return;
    cache::VerifiedBlobs verified(*cache_);
    for (const auto& e : fetched) verified.remember(e);
    (void)verified.save();
}

Result<DownloadResult> Download::run() {
    if (auto st = validate(); !st) return st.error();
    if (settings_.offline) return offline("offline mode (HF_HUB_OFFLINE=1)");

    std::optional<hub::HubClient> own_hub;
    if (!hub_) own_hub.emplace(settings_, req_.cancel, [this](const std::string& m) { events_.push(WarningEvent{m}); });
    hub::HubApi& hub = hub_ ? *hub_ : *own_hub;
    auto commit = hub.resolve_revision(*repo_, req_.revision);
    if (!commit) {
        if (commit.error().code == errc::network) return without_hub(hub, commit.error().what());
        return commit.error();
    }
    return fetch_commit(hub, *commit, true);
}

Result<DownloadResult> Download::without_hub(const hub::HubApi& live, const std::string& why) {
    auto cached = offline(why);
    if (cached || !req_.local_dir.empty() || !settings_.p2p || settings_.tracker.empty()) return cached;
    // A commit's list may be kept before any of its files is in place.
    auto commit = cache_->resolve_offline(req_.revision);
    if (!commit) commit = CommitId::parse(req_.revision);
    const auto manifest = commit ? cache::read_manifest(*cache_, *commit) : std::nullopt;
    if (!manifest) return cached;
    std::vector<hub::RemoteFile> files;
    for (const auto& e : *manifest) files.push_back({e.path, e.size, e.etag, e.etag.kind() == Etag::Kind::sha256});
    events_.push(WarningEvent{why + "; fetching what the cache lacks of " + commit->str() +
                              " from peers, checked against the file list the Hub gave before"});
    settings_.webseed = false;    // nothing to seed from
    settings_.p2p_cohort = false; // a cohort's members fetch their shares from the Hub
    hub::ListedHub listed(live, *commit, std::move(files));
    return fetch_commit(listed, *commit, false);
}

Result<DownloadResult> Download::fetch_commit(hub::HubApi& hub, const CommitId& commit, bool hub_live) {
    auto files = select(hub, commit);
    if (!files) {
        if (hub_live && files.error().code == errc::network) return without_hub(hub, files.error().what());
        return files.error();
    }

    const bool local = !req_.local_dir.empty();
    std::map<std::string, Wanted> by_etag;
    std::vector<hub::RemoteFile> local_todo;
    files_ = files->size();
    std::size_t files_cached = 0;
    for (const auto& f : *files) {
        bytes_total_ += f.size;
        const bool cached = local ? cache::local_dir_file_current(req_.local_dir, f.path, f.etag, f.size)
                                  : cache_->has_blob(f.etag, f.size);
        if (cached) {
            bytes_cached_ += f.size;
            ++files_cached;
            if (!local) {
                if (auto st = cache_->ensure_layout(); !st) return st.error();
                if (auto st = cache_->link_snapshot(commit, f.path, f.etag); !st) return st.error();
            }
            ready(f.path, local ? req_.local_dir / f.path : cache_->snapshot_dir(commit) / f.path, f.size);
            continue;
        }
        if (local) {
            local_todo.push_back(f);
            continue;
        }
        auto [it, inserted] = by_etag.try_emplace(f.etag.str(), Wanted{f, {}});
        it->second.paths.push_back(f.path);
    }
    if (on_event_) on_event_(PlanEvent{commit, files_, files_cached, bytes_total_, bytes_cached_});
    events_.drain(on_event_); // the cached files are usable now

    std::vector<Wanted> todo;
    for (auto& [_, w] : by_etag) todo.push_back(std::move(w));
    for (const auto& f : local_todo) todo.push_back(Wanted{f, {f.path}}); // by_etag is empty then

    const fs::path target_dir = local ? req_.local_dir : settings_.cache_dir;
    for (const auto& p : {target_dir, target_dir / "CACHEDIR.TAG", cache_->repo_dir(),
                          cache_->repo_dir() / "blobs", cache_->repo_dir() / "snapshots",
                          cache_->repo_dir() / "refs", settings_.cache_dir / ".locks", cache_->lock_dir()})
        created_.note(p);
    std::error_code ec;
    fs::create_directories(target_dir, ec);
    if (ec) return util::errno_error(ec.value(), "cannot create folder", target_dir.string());
    if (auto st = check_space(todo, target_dir); !st) {
        created_.remove_if_empty();
        return st.error();
    }

    std::vector<Etag> fetched;
    for (const auto& w : todo) fetched.push_back(w.file.etag);
    Status st = ok();
    if (local) st = fetch_into_local_dir(hub, commit, std::move(todo));
    else if (auto lay = cache_->ensure_layout(); !lay) st = lay;
    // The commit's list before its files: should the Hub go away before they
    // are all here, the rest can still come from peers (without_hub()).
    else if (auto m = manifest_ ? cache::write_manifest(*cache_, commit, *manifest_) : ok(); !m) st = m;
    else st = fetch_into_cache(hub, commit, std::move(todo));
    fetch::drop_staged(staged_, staging_);
    if (!st) {
        if (st.error().code == errc::disk || st.error().code == errc::integrity) created_.remove_if_empty();
        return st.error();
    }

    events_.drain(on_event_);
    if (local) return finish(commit, req_.local_dir);
    remember_verified(fetched);
    // refs/ last: only once the snapshot is there.
    if (req_.revision != commit.str())
        if (auto ref = cache_->write_ref(req_.revision, commit); !ref) return ref.error();
    std::error_code ec2;
    fs::create_directories(cache_->snapshot_dir(commit), ec2);
    return finish(commit, cache_->snapshot_dir(commit));
}

} // namespace

Result<DownloadResult> download_with(hub::HubApi* hub, Session* session, const Settings& settings,
                                     const DownloadRequest& request, const EventHandler& on_event) {
    http::global_init();
    auto r = Download(session, hub, settings, request, on_event).run();
    if (request.watch) request.watch->ended(r.has_value());
    return r;
}

Result<DownloadResult> download(Session& session, const Settings& settings, const DownloadRequest& request,
                                const EventHandler& on_event) {
    return download_with(nullptr, &session, settings, request, on_event);
}

Result<DownloadResult> download(const Settings& settings, const DownloadRequest& request,
                                const EventHandler& on_event) {
    return download_with(nullptr, nullptr, settings, request, on_event);
}

} // namespace llmpt
