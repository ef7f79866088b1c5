// p2p/dispatch.hpp: which requests a seeding torrent serves, on a clock of
// the test's own.
#include <catch2/catch.hpp>

#include "p2p/dispatch.hpp"

using namespace llmpt::p2p;
using namespace std::chrono_literals;

namespace {
const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
const DispatchOptions opts{}; // in flight 3 s, give up refusing at 1.5 s, starving at 250 ms, 8 pieces shared out
} // namespace

TEST_CASE("dispatch: a piece nobody else has is served, and stays served") {
    DispatchLedger peer(t0);
    CHECK(peer.serve(opts, {7, true, false, 1}, t0));
    // Its next blocks are served even once another peer has the piece.
    CHECK(peer.serve(opts, {7, true, true, 1}, t0 + 10ms));
}

TEST_CASE("dispatch: a piece another peer has is refused while others feed the requester") {
    DispatchLedger peer(t0);
    for (auto ms = 0ms; ms < 1500ms; ms += 100ms) {
        peer.on_have(100 + static_cast<int>(ms.count()), t0 + ms); // pieces we never sent it
        CHECK_FALSE(peer.serve(opts, {7, true, true, 1}, t0 + ms + 1ms));
    }
    // Refused for as long as give_up_refusing: served (the holders may be choking it).
    CHECK(peer.serve(opts, {7, true, true, 1}, t0 + 1501ms));
}

TEST_CASE("dispatch: a peer that cannot take a reject is always served") {
    DispatchLedger peer(t0);
    CHECK(peer.serve(opts, {7, false, true, 1}, t0));
}

TEST_CASE("dispatch: a requester nobody else feeds gets a piece others have, one at a time") {
    DispatchLedger peer(t0);
    // Fresh: refused (its other peers may serve it).
    CHECK_FALSE(peer.serve(opts, {1, true, true, 1}, t0 + 10ms));
    CHECK_FALSE(peer.serve(opts, {2, true, true, 1}, t0 + 200ms));
    // Nothing from others for 250 ms: one piece is served...
    CHECK(peer.serve(opts, {1, true, true, 1}, t0 + 260ms));
    CHECK(peer.serve(opts, {1, true, true, 1}, t0 + 270ms)); // (its next blocks)
    // ...and no second one until another 250 ms went by without news.
    CHECK_FALSE(peer.serve(opts, {2, true, true, 1}, t0 + 300ms));
    CHECK(peer.serve(opts, {2, true, true, 1}, t0 + 510ms));
}

TEST_CASE("dispatch: pieces we send do not count as fed by others") {
    DispatchLedger peer(t0);
    // It completes, every 50 ms, a piece only we had (served, not elsewhere).
    for (int i = 0; i < 5; ++i) {
        const auto at = t0 + std::chrono::milliseconds(50 * i);
        REQUIRE(peer.serve(opts, {10 + i, true, false, 1}, at));
        peer.on_have(10 + i, at + 40ms);
    }
    // Fed by us alone since it connected: a piece others have is served.
    CHECK(peer.serve(opts, {1, true, true, 1}, t0 + 260ms));
}

TEST_CASE("dispatch: a piece from someone else ends the starving") {
    DispatchLedger peer(t0);
    CHECK(peer.serve(opts, {1, true, true, 1}, t0 + 300ms)); // starving since the connection
    peer.on_have(1, t0 + 320ms);                             // ours: still starving, but one rescue per 250 ms
    CHECK_FALSE(peer.serve(opts, {2, true, true, 1}, t0 + 400ms));
    peer.on_have(50, t0 + 420ms);                            // from another peer
    CHECK_FALSE(peer.serve(opts, {2, true, true, 1}, t0 + 600ms));
    CHECK(peer.serve(opts, {2, true, true, 1}, t0 + 671ms));
}

TEST_CASE("dispatch: a few pieces on their way are shared out among the leechers") {
    CHECK(opts.ahead_per_peer(1) > 1000); // alone: no bound
    CHECK(opts.ahead_per_peer(2) == 4);
    CHECK(opts.ahead_per_peer(3) == 3);
    CHECK(opts.ahead_per_peer(4) == 2);
    CHECK(opts.ahead_per_peer(5) == 2);
    CHECK(opts.ahead_per_peer(7) == 1);
    CHECK(opts.ahead_per_peer(64) == 1); // never none
    DispatchOptions wide = opts;
    wide.pieces_in_flight = 100;
    CHECK(wide.ahead_per_peer(7) == wide.max_ahead_per_peer);
}

TEST_CASE("dispatch: with other leechers connected, one peer gets its share of pieces ahead") {
    DispatchLedger peer(t0);
    const int three = 3; // leechers connected: three pieces each
    for (int p = 0; p < 3; ++p) CHECK(peer.serve(opts, {p, true, false, three}, t0));
    CHECK_FALSE(peer.serve(opts, {3, true, false, three}, t0)); // a fresh piece stays for the others
    CHECK(peer.serve(opts, {2, true, false, three}, t0));       // the next blocks of one it has on its way
    peer.on_have(0, t0 + 10ms);                                 // one arrived: room for the next
    CHECK(peer.serve(opts, {3, true, false, three}, t0 + 11ms));
    CHECK_FALSE(peer.serve(opts, {4, true, false, three}, t0 + 11ms));
    // More leechers arrived: a smaller share, its pieces on their way stay served.
    CHECK_FALSE(peer.serve(opts, {4, true, false, 8}, t0 + 12ms));
    CHECK(peer.serve(opts, {1, true, false, 8}, t0 + 12ms));
    // Alone, or unable to take a reject: no bound.
    CHECK(peer.serve(opts, {5, true, false, 1}, t0 + 13ms));
    CHECK(peer.serve(opts, {6, false, false, three}, t0 + 13ms));
}
