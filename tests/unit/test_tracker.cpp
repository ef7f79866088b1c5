#include <catch2/catch.hpp>

#include "tracker/server/announce.hpp"
#include "tracker/server/service.hpp"
#include "tracker/server/rate_limit.hpp"
#include "tracker/server/swarm.hpp"

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

TEST_CASE("announce parsing") {
    const std::string base = "info_hash=" + enc(kHash) + "&peer_id=" + enc(kPeer) + "&port=6881";
    auto r = parse_announce(base + "&uploaded=1&downloaded=2&left=3&event=started&numwant=500&compact=1", 200);
    REQUIRE(r);
    CHECK(r->info_hash == kHash);
    CHECK(r->peer_id == kPeer);
    CHECK(r->port == 6881);
    CHECK(r->left == std::uint64_t{3});
    CHECK_FALSE(parse_announce(base, 200)->left); // missing: unknown, not 0
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

namespace {
Announce ann(std::int64_t torrent, const std::string& key, const std::string& ip, std::uint16_t port, bool seeder,
             Announce::Ev ev = Announce::Ev::none, int numwant = 50, std::string peer_id = kPeer) {
    Announce a;
    a.torrent = torrent;
    a.key = key;
    a.who = *make_addr(ip, port);
    a.peer_id = std::move(peer_id);
    a.seeder = seeder;
    a.event = ev;
    a.numwant = numwant;
    a.ttl = std::chrono::seconds(10);
    return a;
}
const std::string kKey(20, 'k'), kV1(20, '1');
} // namespace

TEST_CASE("swarm: peers, seeders, numwant, expiry, stopped") {
    SwarmStore s;
    s.add_torrent(1, {kKey}, 5);
    const auto now = Clock::now();
    for (int port = 1; port <= 5; ++port)
        s.announce(ann(1, kKey, "127.0.0.1", static_cast<std::uint16_t>(port), port == 1, Announce::Ev::started, 0), now);
    auto r = s.announce(ann(1, kKey, "127.0.0.1", 3, false, Announce::Ev::none, 2), now);
    CHECK(r.peers.size() == 12);
    CHECK(r.counts.seeders == 1);
    CHECK(r.counts.leechers == 4);
    CHECK(r.counts.completed == 5);
    auto all = s.announce(ann(1, kKey, "127.0.0.1", 3, false), now);
    CHECK(all.peers.size() == 4 * 6); // everyone but the asker
    auto v6 = s.announce(ann(1, kKey, "::1", 9, false, Announce::Ev::completed, 50, "-LM0010-aaaaaaaaaaaa"), now);
    CHECK(v6.completed_now);
    CHECK(v6.counts.completed == 6);
    auto later = s.announce(ann(1, kKey, "127.0.0.1", 2, false), now);
    CHECK(later.peers6.size() == 18);
    s.announce(ann(1, kKey, "127.0.0.1", 2, false, Announce::Ev::stopped), now);
    CHECK(s.counts(1, now).leechers == 4);
    CHECK(s.expire(now + std::chrono::seconds(11)) == 5);
    CHECK(s.peer_count() == 0);
    CHECK(s.counts(1, now).completed == 6);
}

TEST_CASE("swarm: a hybrid torrent's keys are two swarms, its counts one") {
    SwarmStore s;
    s.add_torrent(1, {kKey, kV1}, 0);
    const auto now = Clock::now();
    // A hybrid client announces both keys; a v1-only client only the v1 hash.
    s.announce(ann(1, kKey, "10.0.0.1", 1, true, Announce::Ev::started, 50, "-LT2080-hybridhybrid"), now);
    s.announce(ann(1, kV1, "10.0.0.1", 1, true, Announce::Ev::started, 50, "-LT2080-hybridhybrid"), now);
    s.announce(ann(1, kV1, "10.0.0.2", 2, false, Announce::Ev::started, 50, "-TR3000-v1onlyv1only"), now);
    // A v2 client is never handed the v1-only peer; the v1 client gets both.
    auto v2 = s.announce(ann(1, kKey, "10.0.0.3", 3, false, Announce::Ev::started, 50, "-LM0010-v2v2v2v2v2v2"), now);
    CHECK(v2.peers.size() == 6);
    CHECK(v2.peers.substr(0, 4) == std::string("\x0a\x00\x00\x01", 4));
    auto v1 = s.announce(ann(1, kV1, "10.0.0.2", 2, false), now);
    CHECK(v1.peers.size() == 6);
    const auto c = s.counts(1, now);
    CHECK(c.seeders == 1);  // the hybrid client, once
    CHECK(c.leechers == 2);
    // libtorrent announces `completed` for each key: counted once.
    CHECK(s.announce(ann(1, kKey, "10.0.0.3", 3, true, Announce::Ev::completed, 50, "-LM0010-v2v2v2v2v2v2"), now)
              .completed_now);
    CHECK_FALSE(s.announce(ann(1, kV1, "10.0.0.3", 3, true, Announce::Ev::completed, 50, "-LM0010-v2v2v2v2v2v2"), now)
                    .completed_now);
    CHECK(s.counts(1, now).completed == 1);
    s.remove_torrent(1);
    CHECK(s.peer_count() == 0);
}

TEST_CASE("swarm: a seeder gets leechers first, then seeders (a magnet user says left=0)") {
    SwarmStore s;
    s.add_torrent(1, {kKey}, 0);
    const auto now = Clock::now();
    s.announce(ann(1, kKey, "10.0.0.1", 1, true), now);
    s.announce(ann(1, kKey, "10.0.0.2", 2, true), now);
    s.announce(ann(1, kKey, "10.0.0.3", 3, false), now);
    const auto r = s.announce(ann(1, kKey, "10.0.0.9", 9, true, Announce::Ev::started, 2), now);
    REQUIRE(r.peers.size() == 12);
    CHECK(r.peers.substr(0, 4) == std::string("\x0a\x00\x00\x03", 4)); // the leecher first
    CHECK(s.announce(ann(1, kKey, "10.0.0.9", 9, true), now).peers.size() == 18);
}

TEST_CASE("swarm: a peer that stopped comes back only with `started`") {
    SwarmStore s;
    s.add_torrent(1, {kKey}, 0);
    const auto now = Clock::now();
    s.announce(ann(1, kKey, "10.0.0.1", 1, false, Announce::Ev::started), now);
    s.announce(ann(1, kKey, "10.0.0.1", 1, false, Announce::Ev::stopped), now);
    // Its `completed`, sent before `stopped` but arriving after it: counted, not listed.
    const auto late = s.announce(ann(1, kKey, "10.0.0.1", 1, true, Announce::Ev::completed), now);
    CHECK(late.completed_now);
    CHECK(s.counts(1, now).seeders == 0);
    s.announce(ann(1, kKey, "10.0.0.1", 1, true), now);
    CHECK(s.peer_count() == 0);
    s.announce(ann(1, kKey, "10.0.0.1", 1, true, Announce::Ev::started), now);
    CHECK(s.counts(1, now).seeders == 1);
    // A minute later (a tracker that forgot) plain announces count again.
    s.announce(ann(1, kKey, "10.0.0.2", 2, false, Announce::Ev::stopped), now);
    s.announce(ann(1, kKey, "10.0.0.2", 2, false), now + std::chrono::seconds(61));
    CHECK(s.counts(1, now + std::chrono::seconds(61)).leechers == 1);
}

TEST_CASE("swarm: the goodbye of an earlier torrent instance does not remove its successor") {
    // A download that turns into its seeding removes its torrent (a
    // `stopped` with the old peer id) and adds a new one (`started`, new
    // id); the two travel on separate connections, in either order.
    SwarmStore s;
    s.add_torrent(1, {kKey}, 0);
    const auto now = Clock::now();
    const std::string old_id = "-LM0010-aaaaaaaaaaaa", new_id = "-LM0010-bbbbbbbbbbbb";
    s.announce(ann(1, kKey, "10.0.0.1", 1, false, Announce::Ev::started, 50, old_id), now);
    s.announce(ann(1, kKey, "10.0.0.1", 1, true, Announce::Ev::started, 50, new_id), now);
    s.announce(ann(1, kKey, "10.0.0.1", 1, false, Announce::Ev::stopped, 50, old_id), now); // arrives last
    CHECK(s.counts(1, now).seeders == 1);
    CHECK(s.announce(ann(1, kKey, "10.0.0.2", 2, false, Announce::Ev::started), now).peers.size() == 6);
    // The other order: the goodbye first, then the successor.
    s.announce(ann(1, kKey, "10.0.0.3", 3, false, Announce::Ev::started, 50, old_id), now);
    s.announce(ann(1, kKey, "10.0.0.3", 3, false, Announce::Ev::stopped, 50, old_id), now);
    s.announce(ann(1, kKey, "10.0.0.3", 3, true, Announce::Ev::started, 50, new_id), now);
    CHECK(s.counts(1, now).seeders == 2);
    // The listed instance's own goodbye still removes it.
    s.announce(ann(1, kKey, "10.0.0.1", 1, true, Announce::Ev::stopped, 50, new_id), now);
    CHECK(s.counts(1, now).seeders == 1);
}

TEST_CASE("peer lifetime follows what the client can do") {
    // llmpt follows the tracker's interval; other libtorrent clients re-announce at most every 300 s.
    CHECK(peer_ttl("-LM0010-abcdefghijkl", std::chrono::seconds(30)) == std::chrono::seconds(60));
    CHECK(peer_ttl("-qB4520-abcdefghijkl", std::chrono::seconds(30)) == std::chrono::seconds(600));
    CHECK(peer_ttl("-qB4520-abcdefghijkl", std::chrono::seconds(900)) == std::chrono::seconds(1800));
}
