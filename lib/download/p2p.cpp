// PeerDownload (download/p2p.hpp). Longer than our ~400-line norm: one
// torrent's life in the session (add, poll, verify each finished file, the
// web-seed and fallback decisions, hand-over), driven by one loop over
// libtorrent's state; lookup, file checks, fallback rules and hand-over are
// their own files.
#include "download/p2p.hpp"

#include "download/fallback.hpp"
#include "download/file_check.hpp"
#include "download/hand_over.hpp"
#include "p2p/session.hpp"
#include "torrent/inspect.hpp"
#include "util/fd.hpp"
#include "util/url.hpp"

#include <fmt/format.h>
#include <libtorrent/announce_entry.hpp>
#include <libtorrent/peer_info.hpp>
#include <libtorrent/torrent_flags.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace llmpt::fetch {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string web_seed_base(const Settings& s, const RepoRef& repo) {
    std::string prefix;
    if (repo.type == RepoType::dataset) prefix = "/datasets";
    else if (repo.type == RepoType::space) prefix = "/spaces";
    // BEP 19 appends "{name}/{path}"; name is the commit, so requests land on
    // {endpoint}/{repo}/resolve/{commit}/{path}.
    return s.endpoint + prefix + "/" + repo.id.str() + "/resolve/";
}

std::size_t at(lt::file_index_t i) { return static_cast<std::size_t>(static_cast<int>(i)); }

// One wanted file of the torrent.
struct Track {
    Wanted w;
    lt::file_index_t index;
    cache::FileLock lock; // held while this process may write the file
    FileCheck check;
    bool done = false;
    std::uint64_t reported = 0;  // the checked prefix told to the FileWatch
    int deadline_end = 0;        // pieces below this were asked for first
};

// One P2P attempt: claim the wanted files, run the swarm until done,
// stalled or untrusted, and hand what is left to HTTP.
class PeerDownload {
public:
    PeerDownload(p2p::Session& session, const PeerJob& job, const P2PCallbacks& cb)
        : session_(session), job_(job), cb_(cb) {}
    ~PeerDownload() {
        for (auto& t : tracks_) t.check.stop_stream();
    }
    PeerDownload(const PeerDownload&) = delete;
    PeerDownload& operator=(const PeerDownload&) = delete;

    // Takes the files this process may write; the rest stay with HTTP.
    bool claim(const std::string& torrent, std::vector<Wanted> todo);
    bool start();
    enum class End { done, stalled, untrusted, interrupted };
    End run();
    P2POutcome finish(End end);
    bool hybrid() const { return ti_ && ti_->info_hashes().has_v1(); }

private:
    void warn(const std::string& m) const {
        if (cb_.warn) cb_.warn(m);
    }
    bool cancelled() const { return job_.cancel && job_.cancel->load(); }
    fs::path staged(const Wanted& w) const { return job_.dest.staging_root() / job_.commit.str() / w.file.path; }
    std::uint64_t piece_length() const { return static_cast<std::uint64_t>(ti_->piece_length()); }

    // Per piece of the track's file, whether it passed its check.
    std::vector<bool> have(const Track& t, const lt::typed_bitfield<lt::piece_index_t>& pieces) const;
    lt::add_torrent_params params();
    void claim_staged(lt::add_torrent_params& p) const;
    void resume_check(Track& t, const lt::typed_bitfield<lt::piece_index_t>& had) const;
    void wait_checked();
    std::uint64_t wanted_done(std::vector<std::string>* active);
    struct Peers {
        int connected = 0;
        int partial = 0;             // connected peers that hold some pieces, not all
        int sending = 0;             // SwarmView::sending
        int idle = 0;                // leechers we want pieces of, that let us, and are asked for nothing
        std::int64_t received = 0;   // payload from BitTorrent peers, all connections so far
    };
    // Makes libtorrent look at every connection for blocks to ask for now.
    void wake_idle_connections(const lt::typed_bitfield<lt::piece_index_t>& pieces, int idle_leechers);
    Clock::time_point last_wake_{};
    // What the swarm can give of what is left (for the fallback).
    SwarmView view(const lt::typed_bitfield<lt::piece_index_t>& pieces, const Peers& peers, bool progressed);
    // false: a file failed the Hub's hash (or could not be placed)
    bool place_completed(const lt::typed_bitfield<lt::piece_index_t>& pieces);
    Status place(const Track& t) const;
    // DownloadRequest::watch: report checked prefixes, ask first for the
    // pieces a reader waits on.
    void watch(Track& t, const std::vector<bool>& have);
    void serve_waiting(const lt::typed_bitfield<lt::piece_index_t>& pieces);
    Peers watch_peers();
    void trace_peers(const std::vector<lt::peer_info>& peers) const;

    p2p::Session& session_;
    const PeerJob& job_;
    const P2PCallbacks& cb_;

    std::shared_ptr<lt::torrent_info> ti_;
    std::vector<Track> tracks_;
    std::vector<Wanted> others_;
    lt::torrent_handle h_;
    std::vector<std::int64_t> progress_;
    std::uint64_t baseline_ = 0, last_total_ = 0;
    std::size_t done_count_ = 0;
    bool web_seed_used_ = false;
    bool in_order_ = false; // sequential_download is set
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
        auto lock = cache::FileLock::try_lock(job_.dest.lock_path(w));
        const auto it = index.find(w.file.path);
        if (!lock || !lock->held() || it == index.end()) {
            others_.push_back(std::move(w));
            continue;
        }
        FileCheck check(staged(w), w.file.etag, w.file.size);
        tracks_.push_back(Track{std::move(w), it->second, std::move(*lock), std::move(check), false});
    }
    return !tracks_.empty();
}

std::vector<bool> PeerDownload::have(const Track& t, const lt::typed_bitfield<lt::piece_index_t>& pieces) const {
    const auto pl = piece_length();
    const auto n = t.w.file.size == 0 ? 0 : (t.w.file.size + pl - 1) / pl;
    std::vector<bool> out(n, false);
    if (n == 0) return out;
    const int first = static_cast<int>(ti_->files().map_file(t.index, 0, 0).piece);
    for (std::uint64_t i = 0; i < n; ++i) {
        const int p = first + static_cast<int>(i);
        out[i] = p < pieces.size() && pieces.get_bit(lt::piece_index_t(p));
    }
    return out;
}

void PeerDownload::wait_checked() {
    // Checking is local disk work: bounded, but not by the P2P timeout.
    const auto deadline =
        Clock::now() + std::max<std::chrono::seconds>(job_.settings.p2p_timeout, std::chrono::seconds(120));
    while (Clock::now() < deadline && !cancelled()) {
        const auto st = h_.status();
        if (st.state != lt::torrent_status::checking_files && st.state != lt::torrent_status::checking_resume_data)
            return;
        // The alert wakes us at once; the status above confirms it.
        std::unique_lock lk(events_mu_);
        events_cv_.wait_for(lk, std::chrono::milliseconds(20), [&] { return checked_; });
    }
}

lt::add_torrent_params PeerDownload::params() {
    // No web seed yet: the Hub comes in only when the swarm cannot give
    // what is left in time (download/fallback.hpp).
    // No announce before the wanted files are set: with nothing wanted we
    // would announce as a seeder and be sent no seeders.
    ti_->clear_trackers();
    lt::add_torrent_params p;
    p.ti = ti_;
    p.save_path = torrent::storage_path(*ti_, job_.dest.staging_root(), job_.commit.str());
    // Nothing wanted until the check of what staging already holds is done,
    // so that those bytes are told apart from the ones peers send.
    p.file_priorities.assign(static_cast<std::size_t>(ti_->files().num_files()), lt::dont_download);
    p.flags &= ~lt::torrent_flags::auto_managed;
    p.flags &= ~lt::torrent_flags::paused;
    claim_staged(p);
    in_order_ = in_file_order(job_.settings.p2p_piece_order, true, {});
    if (in_order_) p.flags |= lt::torrent_flags::sequential_download;
    return p;
}

// A cohort share is in staging, hashed as it was fetched: the pieces whose
// hash is the torrent's are given as had, and libtorrent takes them without
// reading staging (with any claim it checks only the files' sizes, and the
// pieces not claimed count as missing; staging holds no others here).
void PeerDownload::claim_staged(lt::add_torrent_params& p) const {
    if (!job_.staged || job_.staged->pieces.empty()) return;
    // Only the files this process writes: the others are not its to claim.
    StagedHashes mine;
    for (const auto& t : tracks_)
        if (auto it = job_.staged->pieces.find(t.w.file.path); it != job_.staged->pieces.end()) mine.insert(*it);
    const auto pieces = torrent::pieces_hashed_as(*ti_, mine);
    if (pieces.empty()) return;
    p.have_pieces.resize(ti_->num_pieces(), false);
    for (const int i : pieces) p.have_pieces.set_bit(lt::piece_index_t(i));
}

// A file whose first bytes this process hashed as it fetched them (a cohort
// share): its check goes on from there when libtorrent holds every piece of
// those bytes, so that it never writes them again.
void PeerDownload::resume_check(Track& t, const lt::typed_bitfield<lt::piece_index_t>& had) const {
    if (!job_.staged) return;
    const auto it = job_.staged->prefixes.find(t.w.file.path);
    if (it == job_.staged->prefixes.end() || it->second.bytes == 0) return;
    const auto has = have(t, had);
    const auto pieces = (it->second.bytes + piece_length() - 1) / piece_length();
    if (pieces > has.size() || !std::all_of(has.begin(), has.begin() + static_cast<std::ptrdiff_t>(pieces), [](bool b) { return b; }))
        return;
    t.check.resume(it->second.state, it->second.bytes);
}

bool PeerDownload::start() {
    auto p = params();
    auto wanted = p.file_priorities;
    for (const auto& t : tracks_) wanted[at(t.index)] = lt::default_priority;
    std::error_code ec;
    fs::create_directories(job_.dest.staging_root(), ec);
    p2p::StreamRegistry::Streams streams;
    if (session_.streams_hashes()) {
        streams.resize(static_cast<std::size_t>(ti_->files().num_files()));
        for (auto& t : tracks_) {
            t.check.start_stream();
            streams[at(t.index)] = t.check.stream();
        }
    }
    auto added = session_.add(std::move(p), [this](const p2p::TorrentEvent& e) { on_event(e); }, std::move(streams));
    if (!added) {
        warn(added.error().message + "; downloading over HTTP");
        return false;
    }
    h_ = *added;
    wait_checked();
    baseline_ = last_total_ = wanted_done(nullptr);
    // Bytes staging already held will not be written again: those files'
    // hashes are read back instead, from where a share's own hash ends.
    const auto had = h_.status(lt::torrent_handle::query_pieces).pieces;
    for (auto& t : tracks_)
        if (progress_[at(t.index)] > 0) {
            t.check.stop_stream();
            resume_check(t, had);
        }
    h_.prioritize_files(wanted);
    // Announce once libtorrent counts the wanted bytes as left, or the
    // tracker takes us for a seeder and sends no seeders. When staging held
    // every wanted byte already (a cohort of one, an interrupted run that
    // had finished) nothing is left to count: no wait, run() places them.
    std::uint64_t want = 0;
    for (const auto& t : tracks_) want += t.w.file.size;
    for (int i = 0; i < 200 && baseline_ < want; ++i) {
        const auto st = h_.status();
        if (st.total_wanted > st.total_wanted_done || st.total_wanted == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    h_.add_tracker(lt::announce_entry(util::trim_trailing_slashes(job_.settings.tracker) + "/announce"));
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

bool PeerDownload::place_completed(const lt::typed_bitfield<lt::piece_index_t>& pieces) {
    for (auto& t : tracks_) {
        if (t.done) continue;
        const auto has = have(t, pieces);
        watch(t, has);
        auto digest = t.check.advance(has, piece_length());
        if (!digest) {
            warn(digest.error().what() + "; HTTP takes over");
            return false;
        }
        if (!*digest) continue;
        if (**digest != t.w.file.etag.str()) {
            warn("a file from peers does not match the Hub's hash (" + t.w.file.path +
                 "): the torrent is not trusted any more; HTTP takes over");
            std::error_code ec;
            fs::remove(t.check.staged(), ec);
            return false;
        }
        if (auto st = place(t); !st) {
            warn(st.error().what() + "; HTTP takes over");
            return false;
        }
        // The torrent reads the file from where it was placed from now on;
        // staging keeps no second link to it (docs/design.md, "Staging").
        h_.rename_file(t.index, fs::absolute(job_.dest.placed_path(t.w)).string());
        t.done = true;
        ++done_count_;
    }
    return true;
}

void PeerDownload::watch(Track& t, const std::vector<bool>& has) {
    if (!job_.watch) return;
    const auto pl = piece_length();
    std::uint64_t prefix = 0;
    for (std::size_t i = 0; i < has.size() && has[i]; ++i) prefix = std::min(t.w.file.size, prefix + pl);
    if (prefix <= t.reported) return;
    t.reported = prefix;
    job_.watch->progress(t.w.file.path, t.check.staged(), prefix);
}

void PeerDownload::serve_waiting(const lt::typed_bitfield<lt::piece_index_t>& pieces) {
    if (!job_.watch) return;
    // Asked for first, from where the reader waits: 64 MiB (at least 8
    // pieces), about half a second of a fast link, so the reader's prefix
    // grows while the rest of the torrent comes rarest-first.
    const auto pl = piece_length();
    const int ahead = static_cast<int>(std::max<std::uint64_t>(8, (64ull << 20) / pl));
    for (const auto& [path, offset] : job_.watch->waiting()) {
        for (auto& t : tracks_) {
            if (t.done || t.w.file.path != path || offset >= t.w.file.size) continue;
            const int first = static_cast<int>(ti_->files().map_file(t.index, 0, 0).piece);
            const int last = first + static_cast<int>((t.w.file.size - 1) / pl);
            const int from = std::max(first + static_cast<int>(offset / pl), t.deadline_end);
            const int to = std::min(last + 1, first + static_cast<int>(offset / pl) + ahead);
            for (int p = from, i = 0; p < to; ++p, ++i)
                if (p >= pieces.size() || !pieces.get_bit(lt::piece_index_t(p)))
                    h_.set_piece_deadline(lt::piece_index_t(p), 200 * (i + 1));
            t.deadline_end = std::max(t.deadline_end, to);
        }
    }
}

// A staging file whose bytes matched the Hub's hash, put in place.
Status PeerDownload::place(const Track& t) const {
    const auto& path = t.check.staged();
    if (t.w.file.size == 0) { // libtorrent never writes empty files
        std::error_code ec;
        fs::create_directories(path.parent_path(), ec);
        if (auto fd = util::open_fd(path, O_WRONLY | O_CREAT); !fd) return fd.error();
    }
    return job_.dest.place(t.w, path, Destination::From::staging, cb_.ready);
}

// libtorrent asks a connection for blocks only when something happens on it
// (a block, an unchoke, a reject, its peer becoming interesting) or when we
// complete a piece that its peer has too. A connection whose last pick
// found its peer's pieces all asked elsewhere stays idle once those blocks
// are free again: a seeder's reject frees them but only the rejecting
// connection picks again (usually the same piece, from the same seeder),
// and more HAVEs from a peer we already want pieces of wake nothing. Setting
// a piece's priority to 0 and back makes libtorrent update every peer's
// interest, and it asks each interesting peer for blocks; a piece we hold
// is used, so what we download does not change (docs/design.md,
// "libtorrent facts").
void PeerDownload::wake_idle_connections(const lt::typed_bitfield<lt::piece_index_t>& pieces, int idle_leechers) {
    const auto now = Clock::now();
    const int held = pieces.find_first_set();
    if (!job_.settings.p2p_wake_idle || !wake_due(idle_leechers, held >= 0, last_wake_, now)) return;
    const auto piece = lt::piece_index_t(held);
    const auto prio = h_.piece_priority(piece);
    h_.piece_priority(piece, prio == lt::dont_download ? lt::default_priority : lt::dont_download); // across 0...
    h_.piece_priority(piece, prio);                                                                   // ...and back
    last_wake_ = now;
}

// Records what each BitTorrent peer sent, and which of them are still
// expected to send.
PeerDownload::Peers PeerDownload::watch_peers() {
    std::vector<lt::peer_info> peers;
    h_.get_peer_info(peers);
    Peers out;
    for (const auto& peer : peers) {
        if (peer.connection_type != lt::peer_info::standard_bittorrent) continue;
        ++out.connected;
        const auto f = peer.flags;
        // A peer that has told us nothing yet, or holds nothing, has nothing
        // to trade: only one with some pieces and not all is partial.
        if (!(f & lt::peer_info::seed) && peer.num_pieces > 0) ++out.partial;
        if ((f & lt::peer_info::interesting) && !(f & lt::peer_info::remote_choked) && !(f & lt::peer_info::snubbed))
            ++out.sending;
        if ((f & lt::peer_info::interesting) && !(f & lt::peer_info::remote_choked) && !(f & lt::peer_info::seed) &&
            peer.download_queue_length == 0)
            ++out.idle;
        auto& seen = peer_seen_[peer.ip.address().to_string() + ":" + std::to_string(peer.ip.port())];
        seen = std::max(seen, peer.total_download);
    }
    for (const auto& [_, v] : peer_seen_) out.received += v;
    if (session_.tracing()) trace_peers(peers);
    return out;
}

// With LLMPT_P2P_LOG, each peer at every poll: its address, bytes received
// from it, our requests queued at it, pieces it has; bytes sent to it, its
// requests queued here, our send buffer to it, disk reads pending for it,
// what the sending waits on (N network, D disk, L rate limit); and i (we
// want some of its pieces), c (it chokes us), s (a seed), n (snubbed).
void PeerDownload::trace_peers(const std::vector<lt::peer_info>& peers) const {
    std::string line;
    for (const auto& peer : peers) {
        const auto f = peer.flags;
        const auto w = peer.write_state;
        line += fmt::format(" {}:{} rx={} q={} n={} tx={} uq={} sb={} rd={} w={}{}{} {}{}{}{}", peer.ip.address().to_string(),
                            peer.ip.port(), peer.total_download, peer.download_queue_length, peer.num_pieces,
                            peer.total_upload, peer.upload_queue_length, peer.used_send_buffer,
                            peer.pending_disk_read_bytes, (w & lt::peer_info::bw_network) ? "N" : "",
                            (w & lt::peer_info::bw_disk) ? "D" : "", (w & lt::peer_info::bw_limit) ? "L" : "",
                            (f & lt::peer_info::interesting) ? "i" : "", (f & lt::peer_info::remote_choked) ? "c" : "",
                            (f & lt::peer_info::seed) ? "s" : "", (f & lt::peer_info::snubbed) ? "n" : "");
    }
    session_.trace("llmpt_peers", line);
}

SwarmView PeerDownload::view(const lt::typed_bitfield<lt::piece_index_t>& pieces, const Peers& peers, bool progressed) {
    SwarmView v;
    v.now = Clock::now();
    v.peers = peers.connected;
    v.sending = peers.sending;
    v.progressed = progressed;
    std::vector<int> avail;
    h_.piece_availability(avail);
    const auto pl = piece_length();
    for (const auto& t : tracks_) {
        if (t.done || t.w.file.size == 0) continue;
        const int first = static_cast<int>(ti_->files().map_file(t.index, 0, 0).piece);
        const auto n = (t.w.file.size + pl - 1) / pl;
        for (std::uint64_t i = 0; i < n; ++i) {
            const int p = first + static_cast<int>(i);
            if (p < pieces.size() && pieces.get_bit(lt::piece_index_t(p))) continue;
            const auto bytes = std::min(pl, t.w.file.size - i * pl);
            v.left += bytes;
            if (static_cast<std::size_t>(p) >= avail.size() || avail[static_cast<std::size_t>(p)] == 0) v.unavailable += bytes;
        }
    }
    return v;
}

PeerDownload::End PeerDownload::run() {
    auto last_progress = Clock::now();
    auto last_announce = Clock::now();
    std::int64_t last_received = 0;
    Fallback::Options fo;
    // A web seed added now cannot carry the Hub token: with one, HTTP takes over instead.
    fo.web_seed_allowed = job_.settings.webseed && job_.hub.auth_headers().empty();
    Fallback fallback(fo, Clock::now());
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
        const bool progressed = total > last_total_;
        if (progressed) {
            last_total_ = total;
            last_progress = Clock::now();
        }
        const auto pieces = h_.status(lt::torrent_handle::query_pieces).pieces;
        if (!place_completed(pieces)) return End::untrusted;
        if (done_count_ == tracks_.size()) return End::done;
        serve_waiting(pieces);
        const auto peers = watch_peers();
        wake_idle_connections(pieces, peers.idle);
        if (in_order_ && !in_file_order(job_.settings.p2p_piece_order, in_order_, {peers.partial, st.num_incomplete})) {
            h_.unset_flags(lt::torrent_flags::sequential_download);
            in_order_ = false;
        }
        // Blocks count as progress for the fallback: a large piece on a
        // slow machine takes seconds to complete while its blocks arrive.
        const bool blocks = peers.received > last_received;
        last_received = std::max(last_received, peers.received);
        // No peer yet: a seeder may have joined since our announce; ask again.
        if (peers.connected == 0 && Clock::now() - last_announce > std::chrono::seconds(1)) {
            h_.force_reannounce(0, -1, lt::torrent_handle::ignore_min_interval);
            last_announce = Clock::now();
        }
        std::string why;
        auto swarm = view(pieces, peers, progressed || blocks);
        swarm.connecting = st.connect_candidates;
        switch (fallback.decide(swarm, why)) {
        case Fallback::Action::none: break;
        case Fallback::Action::web_seed:
            warn(why);
            h_.add_url_seed(web_seed_base(job_.settings, job_.repo));
            web_seed_used_ = true;
            break;
        case Fallback::Action::hand_over: warn(why); return End::stalled;
        }
        if (cb_.progress) cb_.progress(total - baseline_, std::move(active));
        if (Clock::now() - last_progress > job_.settings.p2p_timeout) {
            warn(fmt::format("no progress from peers for {} s; HTTP takes over for the rest",
                             job_.settings.p2p_timeout.count()));
            return End::stalled;
        }
    }
}

P2POutcome PeerDownload::finish(End end) {
    P2POutcome out;
    const auto final_status = h_.status(lt::torrent_handle::query_pieces);
    // Pieces that completed since the last poll (the last files were placed
    // from a fresher status than run() counted) count too.
    last_total_ = std::max(last_total_, wanted_done(nullptr));
    watch_peers(); // what the peers still connected sent since the last poll
    // A complete seed stays for a seeder to take over (PeerJob::keep_seeding):
    // every file of the torrent came through it and is in place.
    const bool keep = end == End::done && job_.keep_seeding &&
                      tracks_.size() == torrent::snapshot_files(*ti_).size();
    if (keep) {
        session_.park(h_);
        out.parked = true;
    } else {
        session_.remove(h_);
    }
    for (auto& t : tracks_) t.check.stop_stream();
    // (remove() returned once libtorrent let go of the files we hand to HTTP.)

    // A placed file's staging name goes (the rename did that, unless the
    // disk back end could not, or the file was copied into place); the
    // torrent is gone, so nothing reads it any more. Partial files stay:
    // HTTP resumes from them, and so does a later run.
    for (const auto& t : tracks_) {
        std::error_code ec;
        if (t.done) fs::remove(t.check.staged(), ec);
    }

    // Bytes from BitTorrent peers are what their connections reported (polled:
    // the last ~100 ms of a peer that left before the end count as web seed);
    // the rest of what arrived came from the web seed, if it came in.
    const std::uint64_t received = last_total_ - baseline_;
    std::uint64_t from_peers = 0;
    for (const auto& [_, v] : peer_seen_) from_peers += static_cast<std::uint64_t>(std::max<std::int64_t>(0, v));
    out.bytes_p2p = web_seed_used_ ? std::min(from_peers, received) : received;
    out.bytes_webseed = received - out.bytes_p2p;
    out.bytes_cached = baseline_;
    out.remaining = std::move(others_);
    for (auto& t : tracks_) {
        if (t.done) continue;
        if (end != End::untrusted) {
            if (const auto n = hand_over(job_.dest, t.w, t.check.staged(), piece_length(), have(t, final_status.pieces))) {
                out.handed_over += n;
                out.staged.emplace_back(t.check.staged(), job_.dest.placed_path(t.w));
            }
        }
        out.remaining.push_back(std::move(t.w));
    }
    util::remove_empty_dirs(job_.dest.staging_root() / job_.commit.str());
    return out;
}

} // namespace

bool wake_due(int idle_leechers, bool hold_a_piece, std::chrono::steady_clock::time_point last,
              std::chrono::steady_clock::time_point now) {
    return idle_leechers > 0 && hold_a_piece && now - last >= std::chrono::milliseconds(100);
}

bool in_file_order(PieceOrder order, bool in_order_now, const OrderSignals& s) {
    switch (order) {
    case PieceOrder::in_order: return true;
    case PieceOrder::rarest_first: return false;
    case PieceOrder::automatic: return in_order_now && s.partial_peers == 0 && s.swarm_leechers <= 1;
    }
    return false;
}

Result<P2POutcome> fetch_p2p(p2p::Session& session, const PeerJob& job, const std::string& torrent,
                             std::vector<Wanted> todo, const P2PCallbacks& cb) {
    P2POutcome unchanged;
    unchanged.remaining = todo;
    if (todo.empty()) return unchanged;
    PeerDownload peers(session, job, cb);
    if (!peers.claim(torrent, std::move(todo)) || !peers.start()) return unchanged;
    job.dest.keep_torrent(torrent, peers.hybrid());
    const auto end = peers.run();
    auto out = peers.finish(end);
    if (end == PeerDownload::End::interrupted) return Error(errc::interrupted, "interrupted");
    return out;
}

} // namespace llmpt::fetch
