#include "swarm.hpp"

#include <arpa/inet.h>

#include <cstring>

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

void SwarmStore::add_torrent(std::int64_t id, std::uint64_t completed) {
    auto& sh = shard(id);
    std::lock_guard lk(sh.mu);
    sh.swarms[id].completed = completed;
}

bool SwarmStore::has_torrent(std::int64_t id) const {
    const auto& sh = shard(id);
    std::lock_guard lk(sh.mu);
    return sh.swarms.count(id) != 0;
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

void SwarmStore::expire_swarm(Swarm& s, Clock::time_point now) {
    for (std::size_t i = 0; i < s.peers.size();) {
        if (s.peers[i].expires <= now) s.remove(i);
        else ++i;
    }
}

AnnounceResult SwarmStore::announce(std::int64_t torrent, const PeerAddr& who, const std::string& peer_id,
                                    bool seeder, Ev event, int numwant, bool compact, Clock::time_point now) {
    auto& sh = shard(torrent);
    std::lock_guard lk(sh.mu);
    auto& s = sh.swarms[torrent];
    AnnounceResult r;

    const auto found = s.index.find(who);
    if (event == Ev::stopped) {
        if (found != s.index.end()) s.remove(found->second);
    } else {
        std::size_t i;
        if (found == s.index.end()) {
            i = s.peers.size();
            s.peers.push_back(Peer{who, {}, false, now});
            s.index.emplace(who, static_cast<std::uint32_t>(i));
        } else {
            i = found->second;
            if (s.peers[i].seeder) --s.seeders;
        }
        auto& p = s.peers[i];
        std::memcpy(p.peer_id.data(), peer_id.data(), std::min<std::size_t>(20, peer_id.size()));
        p.seeder = seeder;
        p.expires = now + ttl_;
        if (seeder) ++s.seeders;
        if (event == Ev::completed) {
            ++s.completed;
            r.completed_now = true;
        }
    }

    // Hand out up to numwant live peers other than the asker, starting where
    // the last answer stopped so that load spreads over the swarm. Seeders
    // are not given to seeders.
    const std::size_t n = s.peers.size();
    if (event != Ev::stopped && numwant > 0 && n > 0) {
        const std::size_t start = s.rotate % n;
        std::size_t given = 0, visited = 0;
        for (; visited < n && given < static_cast<std::size_t>(numwant); ++visited) {
            const Peer& peer = s.peers[(start + visited) % n];
            if (peer.addr == who || peer.expires <= now || (seeder && peer.seeder)) continue;
            ++given;
            if (!compact) {
                char text[INET6_ADDRSTRLEN] = {};
                ::inet_ntop(peer.addr.v6 ? AF_INET6 : AF_INET, peer.addr.ip.data(), text, sizeof text);
                r.peer_list.emplace_back(text, peer.addr.port);
                continue;
            }
            std::string& out = peer.addr.v6 ? r.peers6 : r.peers;
            out.append(reinterpret_cast<const char*>(peer.addr.ip.data()), peer.addr.v6 ? 16 : 4);
            out += static_cast<char>(peer.addr.port >> 8);
            out += static_cast<char>(peer.addr.port & 0xff);
        }
        s.rotate = start + visited;
    }
    r.counts = {s.seeders, s.peers.size() - s.seeders, s.completed};
    return r;
}

SwarmCounts SwarmStore::counts(std::int64_t torrent, Clock::time_point now) {
    auto& sh = shard(torrent);
    std::lock_guard lk(sh.mu);
    auto it = sh.swarms.find(torrent);
    if (it == sh.swarms.end()) return {};
    expire_swarm(it->second, now);
    const auto& s = it->second;
    return {s.seeders, s.peers.size() - s.seeders, s.completed};
}

std::size_t SwarmStore::expire(Clock::time_point now) {
    std::size_t dropped = 0;
    for (auto& sh : shards_) {
        std::lock_guard lk(sh.mu);
        for (auto& [_, s] : sh.swarms) {
            const auto before = s.peers.size();
            expire_swarm(s, now);
            dropped += before - s.peers.size();
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
