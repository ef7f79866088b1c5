// When the Hub steps in during a P2P download (docs/design.md, "The
// swarm"): it is the last resort, for what no connected peer can give in
// time, never for a piece a peer is about to send. Pure decisions over
// what the swarm looks like each poll, so unit tests drive them with a
// clock of their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace llmpt::fetch {

struct SwarmView {
    std::chrono::steady_clock::time_point now;
    int peers = 0;                   // BitTorrent peers connected
    std::uint64_t left = 0;          // wanted bytes not yet received
    std::uint64_t unavailable = 0;   // of those, in pieces no connected peer has
    bool progressed = false;         // bytes arrived since the last poll (blocks from peers, or pieces)
    int sending = 0;                 // peers still expected to send: they unchoke us, have what we
                                     // want and have not let a request time out (libtorrent's "snubbed")
    int connecting = 0;              // peers the tracker named that we are still trying
};

class Fallback {
public:
    struct Options {
        std::chrono::milliseconds no_peer_grace{3000};   // nobody connected, nobody to try: HTTP for everything
        std::chrono::milliseconds connect_grace{10000};  // nobody connected yet, peers still tried (a busy machine)
        std::chrono::milliseconds web_seed_grace{1000};    // some pieces no peer has: the Hub as a web seed
        std::chrono::milliseconds unavailable_grace{3000}; // no peer has any of the rest: HTTP for it
        std::chrono::milliseconds stall_grace{2000};     // peers but no bytes, and none expected
        // Peers but no bytes although some should send: a seeder that hands
        // its pieces out once rejects requests (they are re-asked of peers
        // that have the piece) and a busy machine answers late; that is not
        // a stall until this long.
        std::chrono::milliseconds quiet_grace{10000};
        bool web_seed_allowed = true;                    // --no-webseed, or a token the web seed cannot carry
    };
    enum class Action { none, web_seed, hand_over };

    Fallback(Options o, std::chrono::steady_clock::time_point start);
    // What to do now; `why` says it for the user when the answer is not none.
    Action decide(const SwarmView& v, std::string& why);
    bool web_seed_on() const { return web_seed_; }

private:
    Options o_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_peer_, last_progress_;
    std::chrono::steady_clock::time_point some_unavailable_since_{}, all_unavailable_since_{};
    bool some_unavailable_ = false, all_unavailable_ = false;
    bool web_seed_ = false;
};

} // namespace llmpt::fetch
