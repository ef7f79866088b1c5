// The P2P part of a download (docs/design.md, "A download"): the snapshot's
// torrent (already found and checked, download/torrent_lookup.hpp) runs in
// the caller's session for the wanted files only; each completed file is
// verified against the Hub's hash (download/file_check.hpp) and put in
// place (download/destination.hpp); what the swarm does not deliver in time
// is handed to HTTP with the pieces already received kept
// (download/hand_over.hpp).
#pragma once

#include "download/destination.hpp"
#include "download/plan.hpp"
#include "hub/hub.hpp"

#include <llmpt/download.hpp>
#include <llmpt/settings.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace llmpt::p2p {
class Session;
}

namespace llmpt::fetch {

struct P2PCallbacks {
    std::function<void(const std::string&)> warn;
    ReadyFn ready;
    std::function<void(std::uint64_t done_now, std::vector<std::string> active)> progress;
};

struct P2POutcome {
    std::vector<Wanted> remaining;     // for HTTP
    std::uint64_t bytes_p2p = 0;       // from peers in this run
    std::uint64_t bytes_webseed = 0;   // from web seeds in this run
    std::uint64_t bytes_cached = 0;    // found in staging from an earlier run
    std::uint64_t handed_over = 0;     // of bytes_p2p+webseed, in files HTTP now completes
    // Partial files handed to HTTP: their staging name and where HTTP puts
    // them (for drop_staged() once HTTP is done).
    std::vector<std::pair<std::filesystem::path, std::filesystem::path>> staged;
    bool parked = false;               // the torrent stays in the session, seeding (PeerJob::keep_seeding)
};

// What a P2P attempt works on.
struct PeerJob {
    const Settings& settings;
    const RepoRef& repo;
    const CommitId& commit;
    const Destination& dest;
    hub::HubApi& hub;                  // for the web seeds' auth headers
    const std::atomic<bool>* cancel = nullptr;
    FileWatch* watch = nullptr;        // DownloadRequest::watch
    // Those of them whose hash is the torrent's are given to libtorrent as
    // had, so it does not read staging to check them; the file check goes
    // on from the prefix hashes.
    const StagedShare* staged = nullptr;
    // DownloadRequest::keep_seeding: a torrent that ends as a complete seed
    // is parked in the session (p2p::Session::park) instead of removed.
    bool keep_seeding = false;
};

// What says whether other machines download the snapshot too.
struct OrderSignals {
    int partial_peers = 0;     // connected peers with some pieces and not all
    int swarm_leechers = -1;   // the tracker's count of incomplete peers, us included; -1: not told yet
};

// Whether a download asks for its pieces in file order now. automatic: in
// order while it is the only downloader (its peers are seeders: the Hub's
// hash follows the bytes as they land, nothing is read back), and
// rarest-first for good once another one shows, connected with some pieces
// or counted by the tracker (leechers must hold different pieces to have
// something to trade; the tracker's count says so before anybody has a
// piece, so leechers that start together do not begin with the same ones).
bool in_file_order(PieceOrder order, bool in_order_now, const OrderSignals& s);

// Whether a download makes libtorrent look at every connection for blocks
// to ask for now (PeerDownload::wake_idle_connections): some connected
// leecher we want pieces of lets us ask and is asked for nothing, we hold a
// piece to do it with, and the last time is 100 ms ago.
bool wake_due(int idle_leechers, bool hold_a_piece, std::chrono::steady_clock::time_point last,
              std::chrono::steady_clock::time_point now);

// Runs `torrent` for `todo`. Never fails the download: any problem is a
// warning and HTTP takes over (`remaining`). Only a cancellation is an error.
Result<P2POutcome> fetch_p2p(p2p::Session& session, const PeerJob& job, const std::string& torrent,
                             std::vector<Wanted> todo, const P2PCallbacks& cb);

} // namespace llmpt::fetch
