// p2p/dispatch.hpp: which requests a seeding torrent serves, on a clock of
// the test's own.
#include <catch2/catch.hpp>

#include "p2p/dispatch.hpp"

using namespace llmpt::p2p;
using namespace std::chrono_literals;

namespace {
const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
const DispatchOptions opts{}; // in flight 3 s, give up refusing at 1.5 s, starving at 250 ms, 4 pieces ahead
} // namespace

TEST_CASE("dispatch: a piece nobody else has is served, and stays served") {
    DispatchLedger peer(t0);
    CHECK(peer.serve(opts, {7, true, false, false}, t0));
    // Its next blocks are served even once another peer has the piece.
    CHECK(peer.serve(opts, {7, true, true, false}, t0 + 10ms));
}

TEST_CASE("dispatch: a piece another peer has is refused while others feed the requester") {
    DispatchLedger peer(t0);
    for (auto ms = 0ms; ms < 1500ms; ms += 100ms) {
        peer.on_have(100 + static_cast<int>(ms.count()), t0 + ms); // pieces we never sent it
        CHECK_FALSE(peer.serve(opts, {7, true, true, false}, t0 + ms + 1ms));
    }
    // Refused for as long as give_up_refusing: served (the holders may be choking it).
    CHECK(peer.serve(opts, {7, true, true, false}, t0 + 1501ms));
}

TEST_CASE("dispatch: a peer that cannot take a reject is always served") {
    DispatchLedger peer(t0);
    CHECK(peer.serve(opts, {7, false, true, false}, t0));
}

TEST_CASE("dispatch: a requester nobody else feeds gets a piece others have, one at a time") {
    DispatchLedger peer(t0);
    // Fresh: refused (its other peers may serve it).
    CHECK_FALSE(peer.serve(opts, {1, true, true, false}, t0 + 10ms));
    CHECK_FALSE(peer.serve(opts, {2, true, true, false}, t0 + 200ms));
    // Nothing from others for 250 ms: one piece is served...
    CHECK(peer.serve(opts, {1, true, true, false}, t0 + 260ms));
    CHECK(peer.serve(opts, {1, true, true, false}, t0 + 270ms)); // (its next blocks)
    // ...and no second one until another 250 ms went by without news.
    CHECK_FALSE(peer.serve(opts, {2, true, true, false}, t0 + 300ms));
    CHECK(peer.serve(opts, {2, true, true, false}, t0 + 510ms));
}

TEST_CASE("dispatch: pieces we send do not count as fed by others") {
    DispatchLedger peer(t0);
    // It completes, every 50 ms, a piece only we had (served, not elsewhere).
    for (int i = 0; i < 5; ++i) {
        const auto at = t0 + std::chrono::milliseconds(50 * i);
        REQUIRE(peer.serve(opts, {10 + i, true, false, false}, at));
        peer.on_have(10 + i, at + 40ms);
    }
    // Fed by us alone since it connected: a piece others have is served.
    CHECK(peer.serve(opts, {1, true, true, false}, t0 + 260ms));
}

TEST_CASE("dispatch: a piece from someone else ends the starving") {
    DispatchLedger peer(t0);
    CHECK(peer.serve(opts, {1, true, true, false}, t0 + 300ms)); // starving since the connection
    peer.on_have(1, t0 + 320ms);                        // ours: still starving, but one rescue per 250 ms
    CHECK_FALSE(peer.serve(opts, {2, true, true, false}, t0 + 400ms));
    peer.on_have(50, t0 + 420ms);                       // from another peer
    CHECK_FALSE(peer.serve(opts, {2, true, true, false}, t0 + 600ms));
    CHECK(peer.serve(opts, {2, true, true, false}, t0 + 671ms));
}

TEST_CASE("dispatch: with another leecher connected, one peer gets at most four pieces ahead") {
    DispatchLedger peer(t0);
    for (int p = 0; p < 4; ++p) CHECK(peer.serve(opts, {p, true, false, true}, t0));
    CHECK_FALSE(peer.serve(opts, {4, true, false, true}, t0));  // a fresh piece stays for the others
    CHECK(peer.serve(opts, {2, true, false, true}, t0));        // the next blocks of one it has on its way
    peer.on_have(0, t0 + 10ms);                                 // one arrived: room for the next
    CHECK(peer.serve(opts, {4, true, false, true}, t0 + 11ms));
    CHECK_FALSE(peer.serve(opts, {5, true, false, true}, t0 + 11ms));
    // Alone, or unable to take a reject: no bound.
    CHECK(peer.serve(opts, {5, true, false, false}, t0 + 12ms));
    CHECK(peer.serve(opts, {6, false, false, true}, t0 + 12ms));
}
