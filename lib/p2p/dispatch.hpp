// Seed dispatch: a complete seeder hands each piece out about once and lets
// the swarm pass it on (docs/design.md, "The swarm").
//
// With unlimited unchokes on a LAN every leecher keeps seconds of requests
// queued at the seeder (it is the fastest peer), all for pieces that were
// the rarest when they were asked for; by the time they are served other
// leechers have them, and the seeder sends each piece to most leechers while
// their own uploads sit idle. So a seeding torrent rejects (BEP 6
// reject_request) a request for a piece that another connected peer already
// has, or was sent in the last moments: the requester asks a peer that has
// it. Nor does one leecher get more than its share of a few pieces on their
// way while others are connected (DispatchOptions::ahead_per_peer). It
// serves anyway when nobody else has the piece, when the requester cannot
// take a reject (no fast extension), after it has refused the same peer that
// piece for a while (the holders may be choking it or slow), and when the
// requester is starving: it has told us of no piece that it got from
// someone else for a moment. That last rule is what a libtorrent requester
// needs. It asks a connection for blocks only when something happens on it
// (a block, an unchoke, a reject) or when it completes a piece that this
// peer has too. A connection that found nothing to ask for at the start (its
// peer had nothing yet) stays idle, and a requester fed only by us completes
// only pieces nobody else has (the ones we hand out), so nothing wakes its
// other connections: it takes seconds from us alone. One piece that others
// have ends that: its completion makes the requester ask their holders
// again.
//
// The decision is DispatchLedger::serve (pure, unit-tested); the plugin
// (seed_dispatch) is libtorrent glue and runs on the network thread.
#pragma once

#include <libtorrent/extensions.hpp>

#include <chrono>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace llmpt::p2p {

struct DispatchOptions {
    // How long a piece sent to one peer counts as "that peer will have it".
    std::chrono::milliseconds in_flight{3000};
    // A request refused this long (per peer and piece) is served.
    std::chrono::milliseconds give_up_refusing{1500};
    // A peer that told us of no piece it got elsewhere (a HAVE for a piece
    // we did not send it) for this long is starving: a piece others have is
    // served to it, one at a time.
    std::chrono::milliseconds starving_after{250};
    // Pieces on their way from us to the leechers together while more
    // than one is connected, shared out evenly (at least one each, at most
    // max_ahead_per_peer). A piece we serve waits behind every piece
    // already on its way to that leecher, each at its share of our link:
    // what one leecher reserves, the others cannot get anywhere, and the
    // last pieces we hand out reach the swarm that much later. Enough to
    // keep our link busy while a leecher's next request is on its way.
    int pieces_in_flight = 8;
    int max_ahead_per_peer = 4;

    // The bound on one leecher's pieces on their way while `leeching`
    // leechers (it included) are connected.
    int ahead_per_peer(int leeching) const;
};

// What a seeding torrent knows of one request.
struct RequestFacts {
    int piece = 0;
    bool fast = true;       // the peer can take a reject (BEP 6 fast extension)
    bool elsewhere = false; // another connected peer has the piece, or it is on its way to one
    int leeching = 1;       // leechers connected, the requester included: what one reserves, the others wait for
};

// What a seeding torrent knows of one connected peer, and its verdicts.
class DispatchLedger {
public:
    using Clock = std::chrono::steady_clock;
    explicit DispatchLedger(Clock::time_point connected) : last_from_others_(connected) {}

    // The peer told us it has `piece` now.
    void on_have(int piece, Clock::time_point now);

    // Whether the request is served; serving records the piece as on its
    // way to this peer.
    bool serve(const DispatchOptions& o, const RequestFacts& r, Clock::time_point now);

private:
    std::unordered_set<int> serving_;                    // pieces being sent to this peer
    std::unordered_map<int, Clock::time_point> refused_; // piece -> first refusal
    Clock::time_point last_from_others_;                 // its last piece we did not send (or the connection)
    Clock::time_point last_rescue_{};                    // the last piece served for starving
};

std::shared_ptr<libtorrent::plugin> seed_dispatch(DispatchOptions options = {});

// What a torrent tells the plugin when it is added (through
// add_torrent_params::userdata, read only while the torrent is made).
struct TorrentHints {
    int num_pieces = 0;
    bool dispatch = false; // a complete seed of ours: hand pieces out once
};

} // namespace llmpt::p2p
