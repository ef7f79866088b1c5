// Live peers, in memory only: they come back with their next announce after
// a restart. A peer expires 2x the announce interval after it was last heard.
// Swarms are sharded by torrent so that announces for different torrents do
// not contend.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmpt::tracker {

using Clock = std::chrono::steady_clock;

struct PeerAddr {
    std::array<unsigned char, 16> ip{}; // v4 in the first 4 bytes
    bool v6 = false;
    std::uint16_t port = 0;
    bool operator==(const PeerAddr&) const = default;
};
std::optional<PeerAddr> make_addr(const std::string& ip_text, std::uint16_t port);

struct SwarmCounts {
    std::uint64_t seeders = 0, leechers = 0, completed = 0;
};

struct AnnounceResult {
    SwarmCounts counts;
    std::string peers;   // compact IPv4: 6 bytes each
    std::string peers6;  // compact IPv6: 18 bytes each
    std::vector<std::pair<std::string, std::uint16_t>> peer_list; // for compact=0
    bool completed_now = false; // this announce counted a completion
};

class SwarmStore {
public:
    explicit SwarmStore(std::chrono::seconds peer_ttl) : ttl_(peer_ttl) {}

    // Known torrents: their completed counts, loaded from the database.
    void add_torrent(std::int64_t id, std::uint64_t completed);
    bool has_torrent(std::int64_t id) const;

    enum class Ev { none, started, completed, stopped };
    AnnounceResult announce(std::int64_t torrent, const PeerAddr& who, const std::string& peer_id,
                            bool seeder, Ev event, int numwant, bool compact, Clock::time_point now);
    SwarmCounts counts(std::int64_t torrent, Clock::time_point now);
    // Drops expired peers everywhere; returns how many.
    std::size_t expire(Clock::time_point now);
    std::size_t peer_count() const;

private:
    struct Peer {
        PeerAddr addr;
        std::array<char, 20> peer_id{};
        bool seeder = false;
        Clock::time_point expires;
    };
    struct AddrHash {
        std::size_t operator()(const PeerAddr& a) const noexcept;
    };
    // Peers in a vector (random access for handing out lists) plus an index
    // by address; removal swaps with the last entry.
    struct Swarm {
        std::vector<Peer> peers;
        std::unordered_map<PeerAddr, std::uint32_t, AddrHash> index;
        std::uint64_t seeders = 0;
        std::uint64_t completed = 0;
        std::size_t rotate = 0; // where the next peer list starts
        void remove(std::size_t i);
    };
    struct Shard {
        mutable std::mutex mu;
        std::unordered_map<std::int64_t, Swarm> swarms;
    };
    static constexpr std::size_t kShards = 64;
    Shard& shard(std::int64_t id) { return shards_[static_cast<std::size_t>(id) % kShards]; }
    const Shard& shard(std::int64_t id) const { return shards_[static_cast<std::size_t>(id) % kShards]; }
    static void expire_swarm(Swarm& s, Clock::time_point now);

    std::chrono::seconds ttl_;
    std::array<Shard, kShards> shards_;
};

} // namespace llmpt::tracker
