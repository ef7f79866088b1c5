// The cold-start cohorts a tracker coordinates (docs/design.md, "The cold
// start"): for a revision that has no torrent yet, the snapshot is cut into
// chunks of whole pieces, members lease chunks (largest first), fetch them
// from the Hub and report their v2 piece hashes; once every chunk is
// reported the parts are complete and the service assembles and publishes
// the torrent. A lease lapses when its member has not called for
// `lease` seconds, and the chunk goes to the next member that asks.
//
// Pure state with a clock passed in (unit tests drive it); in memory only:
// a restarted tracker forgets its cohorts, and their members go on over
// HTTP. Safe to call from any thread.
#pragma once

#include "tracker/cohort_protocol.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace llmpt::tracker {

// A request the store turns down, with the HTTP status that says why.
struct Refusal {
    int status = 400;
    std::string message;
};
template <class T>
using Outcome = std::variant<Refusal, T>;

class CohortStore {
public:
    using Clock = std::chrono::steady_clock;
    struct Options {
        std::chrono::seconds lease{15};        // a member silent this long loses its chunks
        std::chrono::seconds idle{600};        // a cohort nobody called this long is forgotten
        std::size_t max_cohorts = 1000;
        std::size_t max_members = 4096;        // per cohort
        std::uint64_t target_chunks = 32;      // chunks per snapshot, about
        std::uint64_t max_chunk = 64ull << 20; // bytes (whole pieces; at least one)
    };
    explicit CohortStore(Options o);
    CohortStore() : CohortStore(Options{}) {}

    // The key of a revision: "type:repo@commit".
    static std::string key(const std::string& repo_type, const std::string& repo_id, const std::string& revision);

    // Joins (or starts) the cohort of `req`'s revision: 409 when the running
    // cohort has another file list, 503 when the store or the cohort is full.
    Outcome<cohort::Answer> join(const cohort::JoinRequest& req, Clock::time_point now);
    // Renews the member's leases and, with `want`, leases it a chunk if one
    // is free: 404 for an unknown cohort or member.
    Outcome<cohort::Answer> lease(const cohort::LeaseRequest& req, Clock::time_point now);

    // What a report completed: the parts to assemble when it was the last.
    struct Reported {
        cohort::Answer answer;
        std::optional<std::vector<torrent::FilePart>> parts; // set once: state is now assembling
        std::string revision, repo_type, repo_id, tracker;
    };
    // 400 naming what is wrong (not a chunk of the cohort, the wrong number
    // of hashes), 404 for an unknown cohort or member. A chunk already
    // reported keeps its first report.
    Outcome<Reported> report(const cohort::ReportRequest& req, Clock::time_point now);

    // The service tells how assembling ended.
    void published(const std::string& cohort, const std::string& info_hash, Clock::time_point now);
    void failed(const std::string& cohort, const std::string& why, Clock::time_point now);

    // Forgets idle cohorts; returns how many.
    std::size_t expire(Clock::time_point now);
    std::size_t size() const;

private:
    struct ChunkState {
        cohort::Chunk chunk;
        std::size_t file = 0;
        std::string holder;                 // member id; empty: free
        bool reported = false;
    };
    struct Member {
        Clock::time_point seen;
    };
    struct Cohort {
        std::string id, key, repo_type, repo_id, revision, tracker;
        std::vector<cohort::File> files;
        std::uint64_t piece_length = 0;
        std::vector<ChunkState> chunks;     // largest first
        std::vector<std::vector<torrent::Sha256Digest>> layers; // per file
        std::map<std::string, Member> members;
        cohort::State state = cohort::State::fetching;
        std::string info_hash, error;
        std::uint64_t remaining = 0;
        Clock::time_point touched;
    };
    Cohort* find(const std::string& id, const std::string& member, Clock::time_point now);
    cohort::Answer answer(const Cohort& c) const;
    bool lapsed(const Cohort& c, const std::string& holder, Clock::time_point now) const;
    Cohort make(const cohort::JoinRequest& req, Clock::time_point now);

    Options o_;
    mutable std::mutex mu_;
    std::map<std::string, Cohort> by_id_;
    std::map<std::string, std::string> by_key_; // key -> id
};

} // namespace llmpt::tracker
