// /announce and /scrape (BEP 3, 7, 23, 48): answers are bencoded with
// libtorrent's entry; failures are a bencoded "failure reason".
#include "tracker/server/announce.hpp"
#include "tracker/server/service.hpp"
#include "util/hash.hpp"

#include <fmt/format.h>
#include <libtorrent/bencode.hpp>
#include <libtorrent/entry.hpp>

#include <map>

namespace llmpt::tracker {

using server::Request;
using server::Response;

namespace {

Response bencoded(const lt::entry& e, int status = 200) {
    Response r;
    r.status = status;
    lt::bencode(std::back_inserter(r.body), e);
    r.header("Content-Type", "text/plain");
    return r;
}

Response failure(const std::string& reason, int status = 200) {
    lt::entry e(lt::entry::dictionary_t);
    e["failure reason"] = reason;
    return bencoded(e, status);
}

Announce::Ev to_swarm_event(Event e) {
    switch (e) {
    case Event::started: return Announce::Ev::started;
    case Event::completed: return Announce::Ev::completed;
    case Event::stopped: return Announce::Ev::stopped;
    case Event::none: break;
    }
    return Announce::Ev::none;
}

} // namespace

Response Service::announce(const Request& req) {
    auto parsed = parse_announce(req.query, o_.max_numwant);
    const auto remote = client_address(req, parsed ? parsed->ip : std::string());
    std::chrono::seconds retry{0};
    if (!announce_limit_.allow(remote, Clock::now(), retry)) {
        ++refused_;
        auto r = failure("rate limited", 429);
        r.header("Retry-After", std::to_string(retry.count()));
        return r;
    }
    if (!parsed) {
        ++refused_;
        return failure(parsed.error().message);
    }
    const auto id = torrent_for_hash(parsed->info_hash);
    if (!id) {
        ++refused_;
        return failure("unregistered torrent");
    }
    const auto addr = make_addr(remote, parsed->port);
    if (!addr) return failure("bad client address");

    Announce a;
    a.torrent = *id;
    a.key = parsed->info_hash;
    a.who = *addr;
    a.peer_id = parsed->peer_id;
    a.seeder = parsed->left == std::uint64_t{0};
    a.event = to_swarm_event(parsed->event);
    a.numwant = parsed->numwant;
    a.compact = parsed->compact;
    a.ttl = peer_ttl(parsed->peer_id, o_.announce_interval);
    auto res = swarms_.announce(a, Clock::now());
    if (res.completed_now) db_->add_completed(*id, 1);
    ++announces_;
    // Events are rare (a peer's start, completion and exit); periodic announces are not logged.
    if (a.event != Announce::Ev::none && o_.log_events)
        log(fmt::format("announce {} torrent={} key={} peer={}:{} left={}",
                        a.event == Announce::Ev::started     ? "started"
                        : a.event == Announce::Ev::completed ? "completed"
                                                             : "stopped",
                        a.torrent, util::to_hex(a.key).substr(0, 12), remote, parsed->port,
                        parsed->left ? std::to_string(*parsed->left) : "?"));

    lt::entry e(lt::entry::dictionary_t);
    e["complete"] = static_cast<std::int64_t>(res.counts.seeders);
    e["downloaded"] = static_cast<std::int64_t>(res.counts.completed);
    e["incomplete"] = static_cast<std::int64_t>(res.counts.leechers);
    e["interval"] = static_cast<std::int64_t>(o_.announce_interval.count());
    e["min interval"] = static_cast<std::int64_t>(o_.min_interval.count());
    if (parsed->compact) {
        e["peers"] = res.peers;
        if (!res.peers6.empty()) e["peers6"] = res.peers6;
    } else {
        lt::entry::list_type peers;
        for (const auto& [ip, port] : res.peer_list) {
            lt::entry p(lt::entry::dictionary_t);
            p["ip"] = ip;
            p["port"] = static_cast<std::int64_t>(port);
            peers.push_back(std::move(p));
        }
        e["peers"] = std::move(peers);
    }
    return bencoded(e);
}

Response Service::scrape(const Request& req) {
    auto hashes = parse_scrape(req.query, o_.max_scrape);
    if (!hashes) return failure(hashes.error().message);
    lt::entry files(lt::entry::dictionary_t);
    const auto now = Clock::now();
    for (const auto& h : *hashes) {
        const auto id = torrent_for_hash(h);
        if (!id) continue;
        const auto c = swarms_.counts(*id, now);
        lt::entry f(lt::entry::dictionary_t);
        f["complete"] = static_cast<std::int64_t>(c.seeders);
        f["downloaded"] = static_cast<std::int64_t>(c.completed);
        f["incomplete"] = static_cast<std::int64_t>(c.leechers);
        files[h] = std::move(f);
    }
    lt::entry e(lt::entry::dictionary_t);
    e["files"] = std::move(files);
    return bencoded(e);
}

} // namespace llmpt::tracker
