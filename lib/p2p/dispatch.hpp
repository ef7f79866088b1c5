// Seed dispatch: a complete seeder hands each piece out about once and lets
// the swarm pass it on (docs/design.md, "The swarm").
//
// With unlimited unchokes on a LAN every leecher keeps seconds of requests
// queued at the seeder (it is the fastest peer), all for pieces that were
// the rarest when they were asked for; by the time they are served other
// leechers have them, and the seeder sends each piece to most leechers
// while their own uploads sit idle. So a seeding torrent rejects (BEP 6
// reject_request) a request for a piece that another connected peer
// already has, or was sent in the last moments: the requester asks a peer
// that has it. It serves anyway when nobody else has the piece, when the
// requester cannot take a reject (no fast extension), or after it has
// refused the same peer that piece for a while (the holders may be choking
// it or slow), so nobody starves.
//
// A libtorrent plugin: everything here runs on the session's network thread.
#pragma once

#include <libtorrent/extensions.hpp>

#include <chrono>
#include <memory>

namespace llmpt::p2p {

struct DispatchOptions {
    // How long a piece sent to one peer counts as "that peer will have it".
    std::chrono::milliseconds in_flight{3000};
    // A request refused this long (per peer and piece) is served.
    std::chrono::milliseconds give_up_refusing{1500};
};

std::shared_ptr<libtorrent::plugin> seed_dispatch(DispatchOptions options = {});

// What a torrent tells the plugin when it is added (through
// add_torrent_params::userdata, read only while the torrent is made).
struct TorrentHints {
    int num_pieces = 0;
    bool dispatch = false; // a complete seed of ours: hand pieces out once
};

} // namespace llmpt::p2p
