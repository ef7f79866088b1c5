// Seeder: seeding one verified snapshot from its blobs (docs/design.md, "Seeding"), and `llmpt seed`.
#include <llmpt/seed.hpp>
#include <llmpt/settings.hpp>
#include <llmpt/torrent.hpp>
#include <llmpt/tracker.hpp>

#include "util/url.hpp"
#include "cache/layout.hpp"
#include "cache/verified.hpp"
#include "p2p/publisher.hpp"
#include "p2p/session.hpp"
#include "torrent/inspect.hpp"
#include "util/fd.hpp"

#include <libtorrent/torrent_flags.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <sys/stat.h>

#include <atomic>
#include <mutex>
#include <utility>

namespace llmpt {

namespace fs = std::filesystem;

namespace {

// The torrent made for this snapshot last time, if it still describes it.
std::optional<std::string> cached_torrent(const fs::path& path, const CommitId& commit,
                                          const cache::RepoCache& cache, const std::map<std::string, Etag>& files) {
    auto data = util::read_small_file(path, 64u << 20);
    if (!data) return std::nullopt;
    auto facts = torrent::inspect(*data, torrent::Limits{64u << 20, 64, 100000000, 100000000});
    // One made by an older llmpt (file attributes) is made again.
    if (!facts || !torrent::check_snapshot_torrent(*facts, commit.str()) || facts->files.size() != files.size())
        return std::nullopt;
    for (const auto& f : facts->files) {
        const auto it = files.find(f.path);
        std::error_code ec;
        if (it == files.end() || fs::file_size(cache.blob_path(it->second), ec) != f.size) return std::nullopt;
    }
    return std::move(*data);
}

// The repo's cache and what its blobs were verified as, kept together (the
// record refers to the cache) for Seeder::intact().
struct Verified {
    explicit Verified(cache::RepoCache c) : cache(std::move(c)), blobs(cache) {}
    const cache::RepoCache cache;
    cache::VerifiedBlobs blobs;
};

// Called from several threads (the daemon's loop maintains, its control API
// asks for the status, its scanner stops): every member below is guarded by
// mu_, and the tracker and the session are called with it released.
class SeederImpl final : public Seeder {
public:
    SeederImpl(p2p::Session& session, lt::torrent_handle h, SeedStatus s, SeedRequest req, std::string data,
               std::unique_ptr<p2p::TrackerPort> tracker, const p2p::Published& published,
               std::unique_ptr<Verified> verified, std::vector<Etag> etags,
               std::shared_ptr<std::atomic<bool>> tracker_refused)
        : session_(session), h_(std::move(h)), status_(std::move(s)), req_(std::move(req)), data_(std::move(data)),
          offer_{req_.repo_type, req_.repo, status_.commit, status_.info_hash, data_}, tracker_(std::move(tracker)),
          schedule_(published, req_.tracker_check, std::chrono::steady_clock::now()),
          verified_(std::move(verified)), etags_(std::move(etags)), tracker_refused_(std::move(tracker_refused)) {}
    ~SeederImpl() override { stop(); }

    bool intact() const override {
        std::lock_guard lk(mu_);
        for (const auto& e : etags_)
            if (!verified_->blobs.known(e)) return false;
        return true;
    }

    void maintain() override {
        std::lock_guard one(maintain_mu_); // one maintain at a time
        // The schedule is maintain()'s alone (maintain_mu_); the tracker is
        // asked without mu_.
        if (!schedule_.due(std::chrono::steady_clock::now(), [&] { return tracker_refused_->exchange(false); }))
            return;
        const auto published = p2p::publish_if_missing(tracker_.get(), offer_);
        schedule_.record(published, std::chrono::steady_clock::now());
        lt::torrent_handle h;
        {
            std::lock_guard lk(mu_);
            status_.publish_state = published.state;
            status_.publish = published.text;
            if (published.state == PublishState::created) ++status_.publishes;
            if (!published.final) return;
            h = h_;
        }
        // Announces the tracker refused before the torrent was known: again now.
        tracker_refused_->store(false);
        if (h.is_valid()) h.force_reannounce(0, -1, lt::torrent_handle::ignore_min_interval);
    }

    void refresh_counts() override {
        lt::torrent_handle h;
        {
            std::lock_guard lk(mu_);
            h = h_;
        }
        // A scrape: libtorrent spaces forced announces a second apart.
        if (h.is_valid()) h.scrape_tracker();
    }

    SeedStatus publish_status() const override {
        std::lock_guard lk(mu_);
        return status_;
    }
    SeedStatus status() const override {
        auto [s, h] = [&] {
            std::lock_guard lk(mu_);
            return std::pair(status_, h_);
        }();
        if (h.is_valid()) {
            const auto st = h.status();
            s.peers = st.num_peers;
            s.leechers = st.num_peers - st.num_seeds;
            s.swarm_leechers = st.num_incomplete;
            s.uploaded = static_cast<std::uint64_t>(st.all_time_upload);
        }
        return s;
    }
    void stop() override {
        lt::torrent_handle h;
        {
            std::lock_guard lk(mu_);
            h = std::exchange(h_, {});
        }
        if (h.is_valid()) session_.remove(h);
    }

private:
    p2p::Session& session_;
    mutable std::mutex mu_;
    std::mutex maintain_mu_;
    lt::torrent_handle h_;
    SeedStatus status_;
    const SeedRequest req_;
    const std::string data_;
    const p2p::OfferedTorrent offer_;                 // refers to data_
    const std::unique_ptr<p2p::TrackerPort> tracker_; // null: no tracker
    p2p::PublishSchedule schedule_;                    // guarded by maintain_mu_
    std::unique_ptr<Verified> verified_;
    const std::vector<Etag> etags_;
    std::shared_ptr<std::atomic<bool>> tracker_refused_;
};

} // namespace

Result<std::unique_ptr<Seeder>> Seeder::start(Session& session_handle, const SeedRequest& req) {
    auto& session = p2p::internal(session_handle);
    auto id = RepoId::parse(req.repo);
    if (!id) return id.error();
    auto verified = std::make_unique<Verified>(cache::RepoCache(req.cache_dir, RepoRef{req.repo_type, *id}));
    const auto& cache = verified->cache;
    const auto commit = cache.resolve_offline(req.revision);
    if (!commit)
        return Error(errc::not_found, req.repo + "@" + req.revision + " is not in the cache at " + req.cache_dir.string());
    auto files = cache.checked_snapshot_files(*commit);
    if (!files) return files.error();
    if (files->empty()) return Error(errc::not_found, "the snapshot has no files", commit->str());

    auto hashed = cache::verify_blobs(cache, *files, verified->blobs);
    if (!hashed) return hashed.error();
    if (auto st = verified->blobs.save(); !st) return st.error();
    std::vector<Etag> etags;
    for (const auto& [_, etag] : *files) etags.push_back(etag);

    // The torrent kept from last time, or the one a download took from the
    // tracker (whichever kind it is: that is the swarm's), else a new one.
    const auto torrent_file = cache.torrent_path(*commit, req.hybrid);
    auto data = cached_torrent(torrent_file, *commit, cache, *files);
    if (!data) data = cached_torrent(cache.torrent_path(*commit, !req.hybrid), *commit, cache, *files);
    if (!data) {
        CreateTorrentRequest cr{req.repo, req.repo_type, commit->str(), req.cache_dir, req.hybrid, req.tracker, 0};
        auto made = create_torrent(cr);
        if (!made) return made.error();
        std::error_code ec;
        fs::create_directories(torrent_file.parent_path(), ec);
        (void)util::write_file_atomic(torrent_file, made->data);
        data = std::move(made->data);
    }
    auto facts = torrent::inspect(*data, torrent::Limits{64u << 20, 64, 100000000, 100000000});
    if (!facts) return facts.error();
    SeedStatus status{.commit = *commit, .info_hash = facts->info_hash};
    status.files = files->size();
    status.hashed_now = *hashed;
    status.bytes = facts->total_size;

    auto tracker = p2p::make_tracker_port(req.tracker, req.publish_token);
    const auto published =
        p2p::publish_if_missing(tracker.get(), {req.repo_type, req.repo, *commit, facts->info_hash, *data});
    status.publish_state = published.state;
    status.publish = published.text;
    if (published.state == PublishState::created) ++status.publishes;

    lt::error_code ec;
    auto ti = std::make_shared<lt::torrent_info>(lt::span<const char>(data->data(), static_cast<std::ptrdiff_t>(data->size())),
                                                 ec, lt::from_span);
    if (ec) return Error(errc::failure, "cannot load the torrent: " + ec.message());
    lt::add_torrent_params p;
    p.ti = ti;
    // Every file is read from its blob: nothing beside blobs/ holds its
    // bytes, so deleting a revision the way huggingface_hub does frees them
    // (once the daemon notices and stops seeding it).
    p.save_path = cache.repo_dir().string();
    for (const auto& [path, index] : torrent::snapshot_files(*ti))
        p.renamed_files[index] = fs::absolute(cache.blob_path(files->at(path))).string();
    // Every blob was checked against the Hub's hash and the torrent made
    // from those very files: claim every piece, so libtorrent only checks
    // the file sizes (seed_mode would hash each piece on its first request).
    p.have_pieces.resize(ti->num_pieces(), true);
    p.flags &= ~lt::torrent_flags::auto_managed;
    p.flags &= ~lt::torrent_flags::paused;
    if (!req.tracker.empty()) {
        p.trackers = {util::trim_trailing_slashes(req.tracker) + "/announce"};
    }
    auto refused = std::make_shared<std::atomic<bool>>(false);
    auto h = session.add(
        std::move(p),
        [refused](const p2p::TorrentEvent& e) {
            if (e.kind == p2p::TorrentEvent::Kind::tracker_error) refused->store(true);
        },
        {}, /*dispatch=*/true);
    if (!h) return h.error();
    status.listen_port = session.listen_port();
    return std::unique_ptr<Seeder>(std::make_unique<SeederImpl>(session, *h, status, req, std::move(*data),
                                                                std::move(tracker), published, std::move(verified),
                                                                std::move(etags), std::move(refused)));
}

} // namespace llmpt
