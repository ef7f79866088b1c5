// tracker/: the cold-start cohort's REST protocol (docs/design.md, "The cold
// start"), written once for both ends: the download's cohort member
// (download/cohort.cpp) and the tracker service (tracker/server/).
//
//   POST /api/v1/cohort/join    JoinRequest   -> CohortAnswer (a member id)
//   POST /api/v1/cohort/lease   LeaseRequest  -> CohortAnswer (maybe a chunk)
//   POST /api/v1/cohort/report  ReportRequest -> CohortAnswer
//
// Every answer has the cohort's state; errors are {"error"} with a status.
#pragma once

#include "torrent/parts.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmpt::tracker::cohort {

// Limits both ends hold to (the tracker answers 400 past them).
constexpr std::size_t kMaxFiles = 100000;
constexpr std::size_t kMaxPathBytes = 1024;
constexpr std::uint64_t kMaxTotal = 1ull << 50;     // 1 PiB
constexpr std::size_t kMaxHashesPerReport = 65536;  // a chunk's pieces

struct File {
    std::string path;
    std::uint64_t size = 0;
};

struct JoinRequest {
    std::string repo_type = "model", repo_id, revision; // revision: the 40-hex commit
    std::vector<File> files;                            // the whole snapshot, as the Hub lists it
    std::string tracker;                                // base URL the torrent announces to
};

struct LeaseRequest {
    std::string cohort, member;
    bool want = true; // false: only renew the leases held (a heartbeat)
};

// A share of the snapshot: `pieces` pieces of `path` from `first_piece`,
// which are the bytes [offset, offset + length).
struct Chunk {
    std::string path;
    std::uint64_t first_piece = 0, pieces = 0, offset = 0, length = 0;
};

struct ReportRequest {
    std::string cohort, member, path;
    std::uint64_t first_piece = 0;
    std::vector<torrent::Sha256Digest> hashes; // the chunk's v2 piece hashes (parts.hpp)
};

enum class State { fetching, assembling, published, failed };
std::string_view to_string(State s);

struct Answer {
    State state = State::fetching;
    std::string cohort, member;     // join only
    std::uint64_t piece_length = 0; // join only
    int lease_seconds = 0;
    std::optional<Chunk> chunk;     // lease: the chunk leased now, if any
    std::uint64_t remaining = 0;    // chunks not reported yet
    std::uint64_t members = 0;
    std::string info_hash;          // published
    std::string error;              // failed: why
};

std::string join_body(const JoinRequest& r);
std::string lease_body(const LeaseRequest& r);
std::string report_body(const ReportRequest& r);
std::string answer_body(const Answer& a);

// The server's parsers: on failure, the message names the field (a 400).
template <class T>
struct Parsed {
    T value;
    std::optional<std::string> error;
};
Parsed<JoinRequest> parse_join(std::string_view body);
Parsed<LeaseRequest> parse_lease(std::string_view body);
Parsed<ReportRequest> parse_report(std::string_view body);
// The client's: nullopt when the body is not an answer.
std::optional<Answer> parse_answer(std::string_view body);

} // namespace llmpt::tracker::cohort
