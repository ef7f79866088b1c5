#include <catch2/catch.hpp>

#include "announce.hpp"
#include "bencode.hpp"
#include "rate_limit.hpp"
#include "swarm.hpp"

using namespace llmpt::tracker;

namespace {
std::string enc(const std::string& raw) {
    std::string out;
    char buf[4];
    for (unsigned char c : raw) {
        std::snprintf(buf, sizeof buf, "%%%02x", c);
        out += buf;
    }
    return out;
}
const std::string kHash(20, '\x11'), kPeer = "-LT2080-abcdefghijkl";
} // namespace

TEST_CASE("bencode writer") {
    CHECK(Bencoder().dict().kv("a", 1).kv("b", "xy").end().bytes() == "d1:ai1e1:b2:xye");
    CHECK(Bencoder().list().integer(-3).str("").end().bytes() == "li-3e0:e");
    CHECK(failure("no") == "d14:failure reason2:noe");
}

TEST_CASE("announce parsing") {
    const std::string base = "info_hash=" + enc(kHash) + "&peer_id=" + enc(kPeer) + "&port=6881";
    auto r = parse_announce(base + "&uploaded=1&downloaded=2&left=3&event=started&numwant=500&compact=1", 200);
    REQUIRE(r);
    CHECK(r->info_hash == kHash);
    CHECK(r->peer_id == kPeer);
    CHECK(r->port == 6881);
    CHECK(r->left == 3);
    CHECK(r->event == Event::started);
    CHECK(r->numwant == 200); // capped
    CHECK(parse_announce(base + "&compact=0", 200)->compact == false);
    // '+' is a space in a query string
    auto plus = parse_announce("info_hash=" + enc(std::string(19, 'a')) + "+&peer_id=" + enc(kPeer) + "&port=1", 50);
    REQUIRE(plus);
    CHECK(plus->info_hash == std::string(19, 'a') + " ");

    CHECK_FALSE(parse_announce("peer_id=" + enc(kPeer) + "&port=1", 50));
    CHECK_FALSE(parse_announce("info_hash=abc&peer_id=" + enc(kPeer) + "&port=1", 50));
    CHECK_FALSE(parse_announce(base.substr(0, base.find("&port")) + "&port=0", 50));
    CHECK_FALSE(parse_announce(base.substr(0, base.find("&port")) + "&port=70000", 50));
    CHECK_FALSE(parse_announce(base + "&event=bogus", 50));
    CHECK_FALSE(parse_announce(base + "&left=-1", 50));
    CHECK_FALSE(parse_announce(base + "&x=%zz", 50));
    CHECK(parse_announce(base + "&left=abc", 50).error().message.find("numbers") != std::string::npos);
}

TEST_CASE("scrape parsing") {
    auto r = parse_scrape("info_hash=" + enc(kHash) + "&info_hash=" + enc(std::string(20, 'b')), 10);
    REQUIRE(r);
    CHECK(r->size() == 2);
    CHECK_FALSE(parse_scrape("", 10));
    CHECK_FALSE(parse_scrape("info_hash=ab", 10));
    CHECK_FALSE(parse_scrape("info_hash=" + enc(kHash) + "&info_hash=" + enc(kHash), 1));
}

TEST_CASE("rate limiter: bursts, refill, retry-after, bounded table") {
    RateLimiter rl(1.0, 2.0, 4);
    const auto t0 = RateLimiter::Clock::now();
    std::chrono::seconds retry{0};
    CHECK(rl.allow("a", t0, retry));
    CHECK(rl.allow("a", t0, retry));
    CHECK_FALSE(rl.allow("a", t0, retry));
    CHECK(retry.count() >= 1);
    CHECK(rl.allow("b", t0, retry)); // per client
    CHECK(rl.allow("a", t0 + std::chrono::milliseconds(1100), retry));
    for (int i = 0; i < 100; ++i) rl.allow("c" + std::to_string(i), t0, retry); // table stays bounded
    RateLimiter off(0, 0);
    for (int i = 0; i < 1000; ++i) REQUIRE(off.allow("x", t0, retry));
}

TEST_CASE("swarm: peers, seeders, numwant, expiry, stopped") {
    SwarmStore s(std::chrono::seconds(10));
    s.add_torrent(1, 5);
    const auto now = Clock::now();
    for (int port = 1; port <= 5; ++port)
        s.announce(1, *make_addr("127.0.0.1", static_cast<std::uint16_t>(port)), kPeer, port == 1,
                   SwarmStore::Ev::started, 0, true, now);
    auto r = s.announce(1, *make_addr("127.0.0.1", 3), kPeer, false, SwarmStore::Ev::none, 2, true, now);
    CHECK(r.peers.size() == 12);
    CHECK(r.counts.seeders == 1);
    CHECK(r.counts.leechers == 4);
    CHECK(r.counts.completed == 5);
    auto all = s.announce(1, *make_addr("127.0.0.1", 3), kPeer, false, SwarmStore::Ev::none, 50, true, now);
    CHECK(all.peers.size() == 4 * 6); // everyone but the asker
    auto v6 = s.announce(1, *make_addr("::1", 9), kPeer, false, SwarmStore::Ev::completed, 50, true, now);
    CHECK(v6.completed_now);
    CHECK(v6.counts.completed == 6);
    auto later = s.announce(1, *make_addr("127.0.0.1", 2), kPeer, false, SwarmStore::Ev::none, 50, true, now);
    CHECK(later.peers6.size() == 18);
    s.announce(1, *make_addr("127.0.0.1", 2), kPeer, false, SwarmStore::Ev::stopped, 50, true, now);
    CHECK(s.counts(1, now).leechers == 4);
    CHECK(s.expire(now + std::chrono::seconds(11)) == 5);
    CHECK(s.peer_count() == 0);
    CHECK(s.counts(1, now).completed == 6);
}
