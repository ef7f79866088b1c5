#include "util/url.hpp"
#include "download/p2p.hpp"

#include "download/fetcher.hpp"

#include "p2p/session.hpp"
#include "p2p/stream_hash.hpp"
#include "torrent/inspect.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"

#include <llmpt/tracker.hpp>

#include <libtorrent/announce_entry.hpp>
#include <libtorrent/torrent_flags.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>
#include <libtorrent/peer_info.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <map>
#include <set>
#include <thread>

namespace llmpt::fetch {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Why a torrent cannot be trusted for this commit, if it cannot.
std::optional<std::string> mismatch(const torrent::TorrentFacts& t, const CommitId& commit,
                                    const std::vector<hub::RemoteFile>& hub_files) {
    if (auto st = torrent::check_snapshot_torrent(t, commit.str()); !st) return st.error().message;
    return torrent::differs_from_hub(t.files, hub_files);
}

std::string web_seed_base(const Settings& s, const RepoRef& repo) {
    std::string prefix;
    if (repo.type == RepoType::dataset) prefix = "/datasets";
    else if (repo.type == RepoType::space) prefix = "/spaces";
    // BEP 19 appends "{name}/{path}"; name is the commit, so requests land on
    // {endpoint}/{repo}/resolve/{commit}/{path}.
    return s.endpoint + prefix + "/" + repo.id.str() + "/resolve/";
}

struct Track {
    Wanted w;
    lt::file_index_t index;
    bool done = false;
    cache::FileLock lock;
    // The Hub's hash, taken by the disk back end as the bytes are written...
    std::shared_ptr<p2p::StreamHash> stream;
    // ...or, without it, read back following the file's contiguous run of
    // verified pieces.
    std::optional<util::Hasher> hasher;
    std::uint64_t hashed = 0;
};

// The pieces a partial file already has become the HTTP fetcher's resume
// state: the staging inode is linked as the file's .incomplete temp file at
// the destination's resume spot, and the journal marks those pieces done.
// Returns the bytes handed over.
std::uint64_t hand_over(const Destination& dest, const fs::path& staged, const Track& t, const lt::file_storage& fs,
                        const lt::typed_bitfield<lt::piece_index_t>& have) {
    const auto size = t.w.file.size;
    const auto pl = static_cast<std::uint64_t>(fs.piece_length());
    if (size == 0 || pl == 0) return 0;
    const auto first = static_cast<int>(fs.map_file(t.index, 0, 0).piece);
    const std::uint64_t pieces = (size + pl - 1) / pl;
    std::vector<std::uint64_t> done(pieces, 0);
    std::uint64_t total = 0;
    for (std::uint64_t i = 0; i < pieces; ++i) {
        const lt::piece_index_t p(first + static_cast<int>(i));
        if (static_cast<int>(p) < have.size() && have.get_bit(p)) {
            done[i] = std::min(pl, size - i * pl);
            total += done[i];
        }
    }
    if (total == 0) return 0;
    const auto spot = dest.resume_spot(t.w);
    const std::string name = spot.tmp_stem + "." + util::random_hex8() + ".incomplete";
    const auto tmp = spot.tmp_dir / name;
    std::error_code ec;
    fs::create_directories(spot.tmp_dir, ec);
    if (::link(staged.c_str(), tmp.c_str()) != 0) return 0;
    // libtorrent may not have written the file's tail yet: give it its size
    // (sparse) so the fetcher accepts it.
    if (::truncate(tmp.c_str(), static_cast<off_t>(size)) != 0) {
        ::unlink(tmp.c_str());
        return 0;
    }
    const auto journal = resume_journal(size, pl, name, done);
    if (!util::write_file_atomic(spot.journal, journal)) {
        ::unlink(tmp.c_str());
        return 0;
    }
    return total;
}

} // namespace

namespace {

std::size_t at(lt::file_index_t i) { return static_cast<std::size_t>(static_cast<int>(i)); }

// One P2P attempt for one download: find and check the torrent, claim the
// wanted files, run the swarm until done, stalled or untrusted, and hand
// what is left to HTTP.
class PeerDownload {
public:
    PeerDownload(const Settings& s, const RepoRef& repo, const Destination& dest, const CommitId& commit,
                 hub::HubApi& hub, const std::atomic<bool>* cancel, const P2PCallbacks& cb)
        : settings_(s), repo_(repo), dest_(dest), commit_(commit), hub_(hub), cancel_(cancel), cb_(cb) {}
    ~PeerDownload() { stop_streams(); }
    PeerDownload(const PeerDownload&) = delete;
    PeerDownload& operator=(const PeerDownload&) = delete;

    std::optional<std::string> find_torrent(const FullList& all_files);
    // Takes the files this process may write; the rest stay with HTTP.
    bool claim(const std::string& torrent, std::vector<Wanted> todo);
    bool start();
    enum class End { done, stalled, untrusted, interrupted };
    End run();
    P2POutcome finish(End end);

private:
    void warn(const std::string& m) const {
        if (cb_.warn) cb_.warn(m);
    }
    bool cancelled() const { return cancel_ && cancel_->load(); }
    fs::path staged(const Track& t) const { return dest_.staging_root() / commit_.str() / t.w.file.path; }
    Status place(const Track& t) const;
    void stop_stream(Track& t);
    void stop_streams() {
        for (auto& t : tracks_) stop_stream(t);
    }
    void wait_checked();
    std::uint64_t wanted_done(std::vector<std::string>* active);
    Status hash_ahead(Track& t, const lt::typed_bitfield<lt::piece_index_t>& have);
    bool place_completed(); // false: a file failed the Hub's hash (or could not be placed)
    int watch_peers();

    const Settings& settings_;
    const RepoRef& repo_;
    const Destination& dest_;
    const CommitId& commit_;
    hub::HubApi& hub_;
    const std::atomic<bool>* cancel_;
    const P2PCallbacks& cb_;

    std::shared_ptr<lt::torrent_info> ti_;
    std::vector<Track> tracks_;
    std::vector<Wanted> others_;
    lt::torrent_handle h_;
    std::vector<std::int64_t> progress_;
    std::uint64_t baseline_ = 0, last_total_ = 0;
    std::size_t done_count_ = 0;
    std::map<std::string, std::int64_t> peer_seen_; // BitTorrent peers: bytes received, by endpoint

    // Session events (from the alert thread) wake run() early.
    void on_event(const p2p::TorrentEvent& e);
    void handle_events();
    std::mutex events_mu_;
    std::condition_variable events_cv_;
    std::vector<p2p::TorrentEvent> events_;
    bool checked_ = false; // the torrent_checked alert came
    bool told_bad_data_ = false;
    std::string last_tracker_error_;
};

void PeerDownload::on_event(const p2p::TorrentEvent& e) {
    {
        std::lock_guard lk(events_mu_);
        if (e.kind == p2p::TorrentEvent::Kind::checked) checked_ = true;
        else events_.push_back(e);
    }
    events_cv_.notify_one();
}

void PeerDownload::handle_events() {
    std::vector<p2p::TorrentEvent> events;
    {
        std::lock_guard lk(events_mu_);
        events.swap(events_);
    }
    using K = p2p::TorrentEvent::Kind;
    for (const auto& e : events) {
        if (e.kind == K::hash_failed && !told_bad_data_) {
            told_bad_data_ = true;
            warn("a peer sent data that fails the torrent's hashes; libtorrent drops it and bans the peer");
        } else if (e.kind == K::tracker_error && e.message != last_tracker_error_) {
            last_tracker_error_ = e.message;
            warn("tracker: " + e.message);
        }
    }
}

std::optional<std::string> PeerDownload::find_torrent(const FullList& all_files) {
    const auto& repo = repo_;
    TrackerOptions to;
    to.connect_timeout = settings_.tracker_connect_timeout;
    to.total_timeout = settings_.tracker_timeout;
    TrackerClient tracker(settings_.tracker, to);
    auto record = tracker.lookup(repo.type, repo.id.str(), commit_.str());
    if (!record) {
        warn(record.error().message + "; downloading over HTTP");
        return std::nullopt;
    }
    if (!*record) return std::nullopt; // nobody shares it yet
    auto data = tracker.fetch_torrent(repo.type, repo.id.str(), commit_.str());
    if (!data) {
        warn(data.error().message + "; downloading over HTTP");
        return std::nullopt;
    }
    auto facts = torrent::inspect(*data);
    if (!facts) {
        warn("the tracker's torrent is unusable (" + facts.error().message + "); downloading over HTTP");
        return std::nullopt;
    }
    auto hub_files = all_files();
    if (!hub_files) return std::nullopt;
    if (auto why = mismatch(*facts, commit_, *hub_files)) {
        warn("the tracker's torrent was rejected: " + *why + "; downloading over HTTP");
        return std::nullopt;
    }
    return std::move(*data);
}

bool PeerDownload::claim(const std::string& torrent, std::vector<Wanted> todo) {
    lt::error_code ec;
    ti_ = std::make_shared<lt::torrent_info>(
        lt::span<const char>(torrent.data(), static_cast<std::ptrdiff_t>(torrent.size())), ec, lt::from_span);
    if (ec) {
        others_ = std::move(todo);
        return false;
    }
    const auto index = torrent::snapshot_files(*ti_);
    // Files another process is writing stay with the HTTP path (it waits for them).
    for (auto& w : todo) {
        auto lock = cache::FileLock::try_lock(dest_.lock_path(w));
        const auto it = index.find(w.file.path);
        if (!lock || !lock->held() || it == index.end()) {
            others_.push_back(std::move(w));
            continue;
        }
        tracks_.push_back(Track{std::move(w), it->second, false, std::move(*lock), nullptr, std::nullopt, 0});
    }
    return !tracks_.empty();
}

void PeerDownload::wait_checked() {
    // Checking is local disk work: bounded, but not by the P2P timeout.
    const auto deadline = Clock::now() + std::max<std::chrono::seconds>(settings_.p2p_timeout, std::chrono::seconds(120));
    while (Clock::now() < deadline && !cancelled()) {
        const auto st = h_.status();
        if (st.state != lt::torrent_status::checking_files && st.state != lt::torrent_status::checking_resume_data)
            return;
        // The alert wakes us at once; the status above confirms it.
        std::unique_lock lk(events_mu_);
        events_cv_.wait_for(lk, std::chrono::milliseconds(20), [&] { return checked_; });
    }
}

bool PeerDownload::start() {
    if (settings_.webseed) {
        lt::web_seed_entry::headers_t headers;
        for (const auto& h : hub_.auth_headers()) {
            const auto colon = h.find(':');
            headers.emplace_back(h.substr(0, colon), h.substr(colon + 2));
        }
        ti_->add_url_seed(web_seed_base(settings_, repo_), "", headers);
    }
    // No announce before the wanted files are set: with nothing wanted we
    // would announce as a seeder and be sent no seeders.
    ti_->clear_trackers();
    lt::add_torrent_params p;
    p.ti = ti_;
    p.save_path = torrent::storage_path(*ti_, dest_.staging_root(), commit_.str());
    // Nothing wanted until the check of what staging already holds is done,
    // so that those bytes are told apart from the ones peers send.
    p.file_priorities.assign(static_cast<std::size_t>(ti_->files().num_files()), lt::dont_download);
    auto wanted = p.file_priorities;
    for (const auto& t : tracks_) wanted[at(t.index)] = lt::default_priority;
    p.flags &= ~lt::torrent_flags::auto_managed;
    p.flags &= ~lt::torrent_flags::paused;
    // In-order pieces let the Hub's hash follow the transfer (hash_ahead).
    p.flags |= lt::torrent_flags::sequential_download;
    std::error_code ec;
    fs::create_directories(dest_.staging_root(), ec);
    auto& session = p2p::Session::get(p2p::session_settings(settings_));
    for (auto& t : tracks_) {
        if (t.w.file.size == 0 || !session.streams_hashes()) continue;
        t.stream = std::make_shared<p2p::StreamHash>(staged(t), util::hasher_for(t.w.file.etag.kind(), t.w.file.size),
                                                     t.w.file.size);
        p2p::watch(staged(t), t.stream);
    }

    auto added = session.add(std::move(p), [this](const p2p::TorrentEvent& e) { on_event(e); });
    if (!added) {
        warn(added.error().message + "; downloading over HTTP");
        return false;
    }
    h_ = *added;
    wait_checked();
    baseline_ = last_total_ = wanted_done(nullptr);
    // Bytes staging already held will not be written again: those files'
    // hashes are read back instead.
    for (auto& t : tracks_)
        if (progress_[at(t.index)] > 0) stop_stream(t);
    h_.prioritize_files(wanted);
    // Announce once libtorrent counts the wanted bytes as left, or the
    // tracker takes us for a seeder and sends no seeders.
    for (int i = 0; i < 200; ++i) {
        const auto st = h_.status();
        if (st.total_wanted > st.total_wanted_done || st.total_wanted == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    h_.add_tracker(lt::announce_entry(util::trim_trailing_slashes(settings_.tracker) + "/announce"));
    h_.force_reannounce(0, -1, lt::torrent_handle::ignore_min_interval);
    return true;
}

std::uint64_t PeerDownload::wanted_done(std::vector<std::string>* active) {
    h_.file_progress(progress_, lt::torrent_handle::piece_granularity);
    std::uint64_t total = 0;
    for (const auto& t : tracks_) {
        const auto got = static_cast<std::uint64_t>(progress_[at(t.index)]);
        total += got;
        if (active && !t.done && got > 0 && got < t.w.file.size) active->push_back(t.w.file.path);
    }
    return total;
}

void PeerDownload::stop_stream(Track& t) {
    if (!t.stream) return;
    t.stream->abandon();
    t.stream.reset();
    p2p::unwatch(staged(t));
}

// Hashes the newly contiguous verified bytes of a file from staging.
Status PeerDownload::hash_ahead(Track& t, const lt::typed_bitfield<lt::piece_index_t>& have) {
    const auto& fs = ti_->files();
    const auto size = t.w.file.size;
    const auto pl = static_cast<std::uint64_t>(fs.piece_length());
    if (!t.hasher) t.hasher = util::hasher_for(t.w.file.etag.kind(), size);
    if (size == 0) return ok();
    const int first = static_cast<int>(fs.map_file(t.index, 0, 0).piece);
    std::uint64_t contiguous = t.hashed / pl * pl;
    while (contiguous < size) {
        const lt::piece_index_t p(first + static_cast<int>(contiguous / pl));
        if (static_cast<int>(p) >= have.size() || !have.get_bit(p)) break;
        contiguous = std::min(size, contiguous + pl);
    }
    if (contiguous <= t.hashed) return ok();
    const auto path = staged(t);
    auto fd = util::open_fd(path, O_RDONLY);
    if (!fd) return fd.error();
    thread_local std::vector<char> buf(1 << 20);
    while (t.hashed < contiguous) {
        const auto want = std::min<std::uint64_t>(buf.size(), contiguous - t.hashed);
        const ssize_t n = ::pread(fd->get(), buf.data(), want, static_cast<off_t>(t.hashed));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return util::errno_error(n < 0 ? errno : EIO, "read", path.string());
        }
        t.hasher->update(buf.data(), static_cast<std::size_t>(n));
        t.hashed += static_cast<std::uint64_t>(n);
    }
    return ok();
}

bool PeerDownload::place_completed() {
    const auto have = h_.status(lt::torrent_handle::query_pieces).pieces;
    for (auto& t : tracks_) {
        if (t.done) continue;
        const bool complete = static_cast<std::uint64_t>(progress_[at(t.index)]) == t.w.file.size;
        std::optional<std::string> digest;
        if (t.stream && complete) {
            // Every piece passed its check, so every byte was written: the
            // stream is done in moments, or was lost.
            digest = t.stream->digest(std::chrono::seconds(5));
            stop_stream(t);
        }
        if (!t.stream && !digest) {
            if (auto st = hash_ahead(t, have); !st) {
                warn(st.error().what() + "; HTTP takes over");
                return false;
            }
            if (complete && t.hashed == t.w.file.size) digest = t.hasher->hex_digest();
        }
        if (!digest) continue;
        if (*digest != t.w.file.etag.str()) {
            warn("a file from peers does not match the Hub's hash (" + t.w.file.path +
                 "): the torrent is not trusted any more; HTTP takes over");
            std::error_code ec;
            fs::remove(staged(t), ec);
            return false;
        }
        if (auto st = place(t); !st) {
            warn(st.error().what() + "; HTTP takes over");
            return false;
        }
        // The torrent reads the file from where it was placed from now on;
        // staging keeps no second link to it (docs/design.md, "Staging").
        h_.rename_file(t.index, fs::absolute(dest_.placed_path(t.w)).string());
        t.done = true;
        ++done_count_;
    }
    return true;
}

// A staging file whose bytes matched the Hub's hash, linked into place.
Status PeerDownload::place(const Track& t) const {
    const auto path = staged(t);
    if (t.w.file.size == 0) { // libtorrent never writes empty files
        std::error_code ec;
        fs::create_directories(path.parent_path(), ec);
        if (auto fd = util::open_fd(path, O_WRONLY | O_CREAT); !fd) return fd.error();
    }
    return dest_.place(t.w, path, Destination::From::staging, cb_.ready);
}

// Records what each BitTorrent peer sent; returns how many are connected.
int PeerDownload::watch_peers() {
    std::vector<lt::peer_info> peers;
    h_.get_peer_info(peers);
    int connected = 0;
    for (const auto& peer : peers) {
        if (peer.connection_type != lt::peer_info::standard_bittorrent) continue;
        ++connected;
        auto& seen = peer_seen_[peer.ip.address().to_string() + ":" + std::to_string(peer.ip.port())];
        seen = std::max(seen, peer.total_download);
    }
    return connected;
}

PeerDownload::End PeerDownload::run() {
    auto last_progress = Clock::now();
    auto last_announce = Clock::now();
    while (true) {
        if (cancelled()) return End::interrupted;
        {
            // A completed file or an error wakes us at once; the poll below
            // is the safety net for dropped alerts.
            std::unique_lock lk(events_mu_);
            events_cv_.wait_for(lk, std::chrono::milliseconds(100), [&] { return !events_.empty(); });
        }
        handle_events();
        const auto st = h_.status();
        if (st.errc) {
            warn("P2P stopped: " + st.errc.message() + "; HTTP takes over");
            return End::stalled;
        }
        std::vector<std::string> active;
        const auto total = wanted_done(&active);
        if (total > last_total_) {
            last_total_ = total;
            last_progress = Clock::now();
        }
        if (!place_completed()) return End::untrusted;
        if (done_count_ == tracks_.size()) return End::done;
        // No peer yet: a seeder may have joined since our announce; ask again.
        if (watch_peers() == 0 && Clock::now() - last_announce > std::chrono::seconds(1)) {
            h_.force_reannounce(0, -1, lt::torrent_handle::ignore_min_interval);
            last_announce = Clock::now();
        }
        if (cb_.progress) cb_.progress(total - baseline_, std::move(active));
        if (Clock::now() - last_progress > settings_.p2p_timeout) {
            warn("no progress from peers for " + std::to_string(settings_.p2p_timeout.count()) +
                 " s; HTTP takes over for the rest");
            return End::stalled;
        }
    }
}

P2POutcome PeerDownload::finish(End end) {
    P2POutcome out;
    const auto final_status = h_.status(lt::torrent_handle::query_pieces);
    watch_peers(); // what the peers still connected sent since the last poll
    p2p::Session::get().remove(h_);
    stop_streams();
    // Wait (bounded) until libtorrent has let go of the files we hand to HTTP.
    for (int i = 0; i < 1000 && h_.is_valid(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));

    // A placed file's staging name goes (the rename did that, unless the
    // disk back end could not, or the file was copied into place); the
    // torrent is gone, so nothing reads it any more. Partial files stay:
    // HTTP resumes from them, and so does a later run.
    for (const auto& t : tracks_) {
        std::error_code ec;
        if (t.done) fs::remove(staged(t), ec);
    }

    // Bytes from BitTorrent peers are what their connections reported (polled:
    // the last ~100 ms of a peer that left before the end count as web seed);
    // the rest of what arrived came from web seeds, if they were on.
    const std::uint64_t received = last_total_ - baseline_;
    std::uint64_t from_peers = 0;
    for (const auto& [_, v] : peer_seen_) from_peers += static_cast<std::uint64_t>(std::max<std::int64_t>(0, v));
    out.bytes_p2p = settings_.webseed ? std::min(from_peers, received) : received;
    out.bytes_webseed = received - out.bytes_p2p;
    out.bytes_cached = baseline_;
    out.remaining = std::move(others_);
    for (auto& t : tracks_) {
        if (t.done) continue;
        if (end != End::untrusted) {
            if (const auto n = hand_over(dest_, staged(t), t, ti_->files(), final_status.pieces)) {
                out.handed_over += n;
                out.staged.emplace_back(staged(t), dest_.placed_path(t.w));
            }
        }
        out.remaining.push_back(std::move(t.w));
    }
    util::remove_empty_dirs(dest_.staging_root() / commit_.str());
    return out;
}

} // namespace

void drop_staged(const std::vector<std::pair<fs::path, fs::path>>& staged, const fs::path& staging) {
    for (const auto& [name, placed] : staged) util::unlink_if_same_file(name, placed);
    if (!staged.empty()) util::remove_empty_dirs(staging);
}

Result<P2POutcome> fetch_p2p(const Settings& settings, const RepoRef& repo, const Destination& dest, const CommitId& commit,
                             hub::HubApi& hub, const FullList& all_files, std::vector<Wanted> todo,
                             const std::atomic<bool>* cancel, const P2PCallbacks& cb) {
    P2POutcome unchanged;
    unchanged.remaining = todo;
    if (!settings.p2p || settings.tracker.empty() || todo.empty()) return unchanged;
    PeerDownload peers(settings, repo, dest, commit, hub, cancel, cb);
    const auto torrent = peers.find_torrent(all_files);
    if (!torrent || !peers.claim(*torrent, std::move(todo)) || !peers.start()) return unchanged;
    const auto end = peers.run();
    auto out = peers.finish(end);
    if (end == PeerDownload::End::interrupted) return Error(errc::interrupted, "interrupted");
    return out;
}

} // namespace llmpt::fetch
