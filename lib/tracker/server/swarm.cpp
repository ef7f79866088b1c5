#include "tracker/server/swarm.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <functional>

namespace llmpt::tracker {

std::optional<PeerAddr> make_addr(const std::string& ip, std::uint16_t port) {
    PeerAddr a;
    a.port = port;
    std::string text = ip;
    if (text.rfind("::ffff:", 0) == 0 && text.find('.') != std::string::npos) text = text.substr(7);
    if (::inet_pton(AF_INET, text.c_str(), a.ip.data()) == 1) return a;
    if (::inet_pton(AF_INET6, text.c_str(), a.ip.data()) == 1) {
        a.v6 = true;
        return a;
    }
    return std::nullopt;
}

std::size_t SwarmStore::AddrHash::operator()(const PeerAddr& a) const noexcept {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : a.ip) h = (h ^ c) * 1099511628211ull;
    h = (h ^ a.port) * 1099511628211ull;
    return static_cast<std::size_t>(h ^ (a.v6 ? 0x9e37 : 0));
}

SwarmStore::Shard& SwarmStore::shard(const std::string& key) {
    return shards_[std::hash<std::string>{}(key) % kShards];
}
const SwarmStore::Shard& SwarmStore::shard(const std::string& key) const {
    return shards_[std::hash<std::string>{}(key) % kShards];
}

void SwarmStore::add_torrent(std::int64_t id, std::vector<std::string> keys, std::uint64_t completed) {
    std::lock_guard lk(torrents_mu_);
    auto& t = torrents_[id];
    t.keys = std::move(keys);
    t.completed = completed;
}

void SwarmStore::remove_torrent(std::int64_t id) {
    std::vector<std::string> keys;
    {
        std::lock_guard lk(torrents_mu_);
        auto it = torrents_.find(id);
        if (it == torrents_.end()) return;
        keys = std::move(it->second.keys);
        torrents_.erase(it);
    }
    for (const auto& k : keys) {
        auto& sh = shard(k);
        std::lock_guard lk(sh.mu);
        sh.swarms.erase(k);
    }
}

void SwarmStore::Swarm::remove(std::size_t i) {
    if (peers[i].seeder) --seeders;
    index.erase(peers[i].addr);
    if (i + 1 != peers.size()) {
        peers[i] = std::move(peers.back());
        index[peers[i].addr] = static_cast<std::uint32_t>(i);
    }
    peers.pop_back();
}

void SwarmStore::Swarm::expire(Clock::time_point now) {
    for (std::size_t i = 0; i < peers.size();) {
        if (peers[i].expires <= now) remove(i);
        else ++i;
    }
    std::erase_if(stopped, [&](const auto& kv) { return kv.second <= now; });
}

bool SwarmStore::count_completion(std::int64_t torrent, const std::string& peer_id, Clock::time_point now) {
    std::lock_guard lk(torrents_mu_);
    auto it = torrents_.find(torrent);
    if (it == torrents_.end()) return false;
    auto& t = it->second;
    if (t.recent_completions.size() > 100000) std::erase_if(t.recent_completions, [&](const auto& kv) { return kv.second <= now; });
    auto [seen, fresh] = t.recent_completions.try_emplace(peer_id, now + std::chrono::hours(24));
    if (!fresh && seen->second > now) return false;
    seen->second = now + std::chrono::hours(24);
    ++t.completed;
    return true;
}

// Up to numwant live peers other than the asker, starting where the last
// answer stopped so that load spreads over the swarm. A seeder gets the
// leechers first and seeders only to fill up: it has no use for them, but a
// client announcing left=0 may be a magnet user that has no metadata yet
// (aria2 does that), and it needs a seeder to start.
void SwarmStore::hand_out(Swarm& s, const Announce& a, Clock::time_point now, AnnounceResult& r) {
    const std::size_t n = s.peers.size();
    if (a.event == Announce::Ev::stopped || a.numwant <= 0 || n == 0) return;
    const auto want = static_cast<std::size_t>(a.numwant);
    const std::size_t start = s.rotate % n;
    std::size_t given = 0, visited = 0;
    std::vector<const Peer*> later; // seeders, for a seeder
    const auto give = [&](const Peer& peer) {
        ++given;
        if (!a.compact) {
            char text[INET6_ADDRSTRLEN] = {};
            ::inet_ntop(peer.addr.v6 ? AF_INET6 : AF_INET, peer.addr.ip.data(), text, sizeof text);
            r.peer_list.emplace_back(text, peer.addr.port);
            return;
        }
        std::string& out = peer.addr.v6 ? r.peers6 : r.peers;
        out.append(reinterpret_cast<const char*>(peer.addr.ip.data()), peer.addr.v6 ? 16 : 4);
        out += static_cast<char>(peer.addr.port >> 8);
        out += static_cast<char>(peer.addr.port & 0xff);
    };
    for (; visited < n && given < want; ++visited) {
        const Peer& peer = s.peers[(start + visited) % n];
        if (peer.addr == a.who || peer.expires <= now) continue;
        if (a.seeder && peer.seeder) {
            if (later.size() < want) later.push_back(&peer);
            continue;
        }
        give(peer);
    }
    for (const auto* peer : later) {
        if (given >= want) break;
        give(*peer);
    }
    s.rotate = start + visited;
}

AnnounceResult SwarmStore::announce(const Announce& a, Clock::time_point now) {
    AnnounceResult r;
    if (a.event == Announce::Ev::completed) r.completed_now = count_completion(a.torrent, a.peer_id, now);
    auto& sh = shard(a.key);
    std::lock_guard lk(sh.mu);
    auto& s = sh.swarms[a.key];
    const auto found = s.index.find(a.who);
    const auto gone = s.stopped.find(a.who);
    const bool still_gone = gone != s.stopped.end() && gone->second > now && a.event != Announce::Ev::started;
    if (gone != s.stopped.end() && !still_gone) s.stopped.erase(gone);
    // Each torrent instance of a client has its own peer id: a `stopped`
    // from another id than the one listed is the goodbye of an earlier
    // instance (a download turning into its seeding removes its torrent and
    // adds a new one), overtaken by the new one's `started`.
    const bool stale_goodbye =
        a.event == Announce::Ev::stopped && found != s.index.end() &&
        std::memcmp(s.peers[found->second].peer_id.data(), a.peer_id.data(),
                    std::min<std::size_t>(20, a.peer_id.size())) != 0;
    if (stale_goodbye) {
        // The listed instance stays; nothing to hand out to a goodbye.
    } else if (a.event == Announce::Ev::stopped) {
        if (found != s.index.end()) s.remove(found->second);
        if (s.stopped.size() < 100000) s.stopped[a.who] = now + std::chrono::seconds(60);
    } else if (!still_gone) {
        std::size_t i;
        if (found == s.index.end()) {
            i = s.peers.size();
            s.peers.push_back(Peer{a.who, {}, false, now});
            s.index.emplace(a.who, static_cast<std::uint32_t>(i));
        } else {
            i = found->second;
            if (s.peers[i].seeder) --s.seeders;
        }
        auto& p = s.peers[i];
        std::memcpy(p.peer_id.data(), a.peer_id.data(), std::min<std::size_t>(20, a.peer_id.size()));
        p.seeder = a.seeder;
        p.expires = now + a.ttl;
        if (a.seeder) ++s.seeders;
    }
    hand_out(s, a, now, r);
    r.counts.seeders = s.seeders;
    r.counts.leechers = s.peers.size() - s.seeders;
    {
        std::lock_guard tl(torrents_mu_);
        if (auto it = torrents_.find(a.torrent); it != torrents_.end()) r.counts.completed = it->second.completed;
    }
    return r;
}

SwarmCounts SwarmStore::counts(std::int64_t torrent, Clock::time_point now) {
    SwarmCounts c;
    std::vector<std::string> keys;
    {
        std::lock_guard lk(torrents_mu_);
        auto it = torrents_.find(torrent);
        if (it == torrents_.end()) return c;
        keys = it->second.keys;
        c.completed = it->second.completed;
    }
    // A hybrid client is in both swarms: count it once, as a seeder if it
    // said so in either.
    std::unordered_map<PeerAddr, bool, AddrHash> seen;
    for (const auto& k : keys) {
        auto& sh = shard(k);
        std::lock_guard lk(sh.mu);
        auto it = sh.swarms.find(k);
        if (it == sh.swarms.end()) continue;
        it->second.expire(now);
        for (const auto& p : it->second.peers) seen[p.addr] = seen[p.addr] || p.seeder;
    }
    for (const auto& [_, seeder] : seen) ++(seeder ? c.seeders : c.leechers);
    return c;
}

std::size_t SwarmStore::expire(Clock::time_point now) {
    std::size_t dropped = 0;
    for (auto& sh : shards_) {
        std::lock_guard lk(sh.mu);
        for (auto it = sh.swarms.begin(); it != sh.swarms.end();) {
            const auto before = it->second.peers.size();
            it->second.expire(now);
            dropped += before - it->second.peers.size();
            if (it->second.peers.empty() && it->second.stopped.empty()) it = sh.swarms.erase(it);
            else ++it;
        }
    }
    return dropped;
}

std::size_t SwarmStore::peer_count() const {
    std::size_t n = 0;
    for (const auto& sh : shards_) {
        std::lock_guard lk(sh.mu);
        for (const auto& [_, s] : sh.swarms) n += s.peers.size();
    }
    return n;
}

} // namespace llmpt::tracker
