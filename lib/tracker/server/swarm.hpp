// Live peers, in memory only: they come back with their next announce after
// a restart.
//
// A swarm is one 20-byte announce key: a hybrid torrent has two (its v1
// hash and its announce_key, the first 20 bytes of its v2 hash), and a
// peer is handed only the peers that announced the same key, because a
// v1-only client and a v2 client cannot talk about the same torrent. A
// hybrid client announces both keys and so is in both swarms. Counts for
// the REST listing and completions belong to the torrent: a peer that
// announced both keys is counted once, and a completion announced for both
// keys (libtorrent does) counts once.
//
// Each announce says how long its peer lives (the caller knows how often
// that client re-announces). A peer that said `stopped` comes back only with
// `started`: a client's `completed` and `stopped` announces travel on
// separate connections, and a `completed` that arrives last would list a
// peer that has gone as a seeder for two intervals. A `stopped` from another
// peer id than the one listed for that address is an earlier torrent
// instance's, overtaken by its successor's `started`: it is ignored.
// Swarms are sharded by key so that announces
// for different torrents do not contend.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
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

struct Announce {
    std::int64_t torrent = 0;
    std::string key;        // the 20 raw bytes announced
    PeerAddr who;
    std::string peer_id;    // 20 raw bytes
    bool seeder = false;    // left == 0
    enum class Ev { none, started, completed, stopped } event = Ev::none;
    int numwant = 50;
    bool compact = true;
    std::chrono::seconds ttl{600}; // the peer expires when silent this long
};

class SwarmStore {
public:
    // Known torrents, their announce keys and completed counts (from the database).
    void add_torrent(std::int64_t id, std::vector<std::string> keys, std::uint64_t completed);
    // Forgets a torrent and its peers (it was replaced).
    void remove_torrent(std::int64_t id);

    AnnounceResult announce(const Announce& a, Clock::time_point now);
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
        std::size_t rotate = 0; // where the next peer list starts
        std::unordered_map<PeerAddr, Clock::time_point, AddrHash> stopped; // until when a `stopped` holds
        void remove(std::size_t i);
        void expire(Clock::time_point now);
    };
    struct Shard {
        mutable std::mutex mu;
        std::unordered_map<std::string, Swarm> swarms;
    };
    // Per torrent: its keys and its completions. A completion is counted
    // once per peer id within a day (libtorrent announces it once per key).
    struct Torrent {
        std::vector<std::string> keys;
        std::uint64_t completed = 0;
        std::unordered_map<std::string, Clock::time_point> recent_completions;
    };

    static constexpr std::size_t kShards = 64;
    Shard& shard(const std::string& key);
    const Shard& shard(const std::string& key) const;
    bool count_completion(std::int64_t torrent, const std::string& peer_id, Clock::time_point now);
    static void hand_out(Swarm& s, const Announce& a, Clock::time_point now, AnnounceResult& r);

    std::array<Shard, kShards> shards_;
    mutable std::mutex torrents_mu_;
    std::unordered_map<std::int64_t, Torrent> torrents_;
};

} // namespace llmpt::tracker
