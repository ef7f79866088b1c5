// download/fallback.hpp: when the Hub steps in during a P2P download, on a
// clock of the test's own.
#include <catch2/catch.hpp>

#include "download/fallback.hpp"
#include "download/p2p.hpp"

using namespace llmpt::fetch;
using namespace std::chrono_literals;
using Action = Fallback::Action;

namespace {
const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
SwarmView at(std::chrono::milliseconds ms, int peers, std::uint64_t left, std::uint64_t unavailable, bool progressed) {
    return SwarmView{t0 + ms, peers, left, unavailable, progressed};
}
} // namespace

TEST_CASE("fallback: a full swarm never needs the Hub") {
    Fallback f({}, t0);
    std::string why;
    for (int ms = 0; ms < 20000; ms += 100) REQUIRE(f.decide(at(std::chrono::milliseconds(ms), 7, 1000, 0, true), why) == Action::none);
    CHECK_FALSE(f.web_seed_on());
}

TEST_CASE("fallback: nobody connects: HTTP after the grace") {
    Fallback f({}, t0);
    std::string why;
    CHECK(f.decide(at(2900ms, 0, 1000, 1000, false), why) == Action::none);
    CHECK(f.decide(at(3000ms, 0, 1000, 1000, false), why) == Action::hand_over);
    CHECK(why.find("no peer") != std::string::npos);
}

TEST_CASE("fallback: peers the tracker named get longer to answer than nobody at all") {
    Fallback f({}, t0);
    std::string why;
    auto v = at(3000ms, 0, 1000, 1000, false);
    v.connecting = 2; // a busy machine: the connections are still being made
    CHECK(f.decide(v, why) == Action::none);
    v.now = t0 + 9900ms;
    CHECK(f.decide(v, why) == Action::none);
    v.now = t0 + 10000ms;
    CHECK(f.decide(v, why) == Action::hand_over);
    CHECK(why.find("10 s") != std::string::npos);
}

TEST_CASE("fallback: some pieces nobody has: a web seed after a second, once") {
    Fallback f({}, t0);
    std::string why;
    CHECK(f.decide(at(100ms, 3, 1000, 200, true), why) == Action::none);
    CHECK(f.decide(at(1000ms, 3, 900, 200, true), why) == Action::none);
    CHECK(f.decide(at(1100ms, 3, 800, 200, true), why) == Action::web_seed);
    CHECK(f.web_seed_on());
    CHECK(f.decide(at(9000ms, 3, 700, 700, false), why) == Action::none); // it is on: no more calls
    // A piece that shows up again resets the wait.
    Fallback g({}, t0);
    CHECK(g.decide(at(100ms, 3, 1000, 200, true), why) == Action::none);
    CHECK(g.decide(at(900ms, 3, 1000, 0, true), why) == Action::none);
    CHECK(g.decide(at(1500ms, 3, 1000, 200, true), why) == Action::none);
}

TEST_CASE("fallback: no peer has any of the rest, and no web seed may come: HTTP") {
    Fallback::Options o;
    o.web_seed_allowed = false; // a token, or --no-webseed
    Fallback f(o, t0);
    std::string why;
    CHECK(f.decide(at(100ms, 2, 500, 500, false), why) == Action::none);
    CHECK(f.decide(at(3000ms, 2, 500, 500, false), why) == Action::none);
    CHECK(f.decide(at(3100ms, 2, 500, 500, false), why) == Action::hand_over);
    CHECK(why.find("rest") != std::string::npos);
}

TEST_CASE("fallback: peers that send nothing: the web seed helps") {
    Fallback f({}, t0);
    std::string why;
    CHECK(f.decide(at(100ms, 2, 500, 0, true), why) == Action::none);
    CHECK(f.decide(at(2000ms, 2, 500, 0, false), why) == Action::none);
    CHECK(f.decide(at(2200ms, 2, 500, 0, false), why) == Action::web_seed);
}

TEST_CASE("fallback: quiet peers that unchoke us and have what we want get longer before the web seed") {
    // A seeder handing pieces out once rejects requests for pieces another
    // peer has; on a slow machine that can mean seconds without a block.
    Fallback f({}, t0);
    std::string why;
    auto v = at(100ms, 2, 500, 0, true);
    v.sending = 1;
    CHECK(f.decide(v, why) == Action::none);
    v.progressed = false;
    for (auto ms : {2200ms, 5000ms, 10000ms}) {
        v.now = t0 + ms;
        CHECK(f.decide(v, why) == Action::none);
    }
    v.now = t0 + 10100ms;
    CHECK(f.decide(v, why) == Action::web_seed);
    CHECK(why.find("10 s") != std::string::npos);
    // Once nobody is expected to send, the short grace counts from the last byte.
    Fallback g({}, t0);
    v = at(100ms, 2, 500, 0, true);
    v.sending = 1;
    CHECK(g.decide(v, why) == Action::none);
    v.progressed = false;
    v.now = t0 + 1500ms;
    CHECK(g.decide(v, why) == Action::none);
    v.sending = 0; // they choked us, or a request timed out
    v.now = t0 + 2100ms;
    CHECK(g.decide(v, why) == Action::web_seed);
}

TEST_CASE("piece order: in file order while the only downloader, rarest-first for good after") {
    using llmpt::PieceOrder;
    using llmpt::fetch::in_file_order;
    using llmpt::fetch::OrderSignals;
    CHECK(in_file_order(PieceOrder::automatic, true, {}));         // nobody yet, the tracker not asked
    CHECK(in_file_order(PieceOrder::automatic, true, {0, 1}));     // alone with seeders: the tracker counts us
    CHECK_FALSE(in_file_order(PieceOrder::automatic, true, {1, 1}));  // a partial peer: trade pieces
    CHECK_FALSE(in_file_order(PieceOrder::automatic, true, {0, 2}));  // another leecher, with nothing yet
    CHECK_FALSE(in_file_order(PieceOrder::automatic, false, {0, 1})); // it does not come back
    CHECK(in_file_order(PieceOrder::in_order, true, {5, 9}));
    CHECK_FALSE(in_file_order(PieceOrder::rarest_first, true, {}));
    CHECK(llmpt::parse_piece_order("auto") == PieceOrder::automatic);
    CHECK(llmpt::Settings{}.p2p_piece_order == PieceOrder::automatic); // the default
}

TEST_CASE("wake idle connections: only when a leecher waits unasked, at most every 100 ms, with a piece to do it") {
    const auto t = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    const auto never = std::chrono::steady_clock::time_point{};
    CHECK_FALSE(wake_due(0, true, never, t));  // every connection asks for something
    CHECK_FALSE(wake_due(2, false, never, t)); // nothing held yet: no piece to do it with
    CHECK(wake_due(1, true, never, t));
    CHECK_FALSE(wake_due(1, true, t, t + std::chrono::milliseconds(99)));
    CHECK(wake_due(1, true, t, t + std::chrono::milliseconds(100)));
}
