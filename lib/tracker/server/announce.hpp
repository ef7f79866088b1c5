// Announce and scrape requests (BEP 3, 7, 23, 48): parsing the raw query,
// where info_hash and peer_id are percent-encoded binary.
#pragma once

#include <llmpt/error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace llmpt::tracker {

enum class Event { none, started, completed, stopped };

struct AnnounceRequest {
    std::string info_hash;  // 20 raw bytes
    std::string peer_id;    // 20 raw bytes
    std::uint16_t port = 0;
    std::uint64_t uploaded = 0, downloaded = 0;
    std::optional<std::uint64_t> left; // missing: unknown, not a seeder
    Event event = Event::none;
    int numwant = 50;
    bool compact = true;
    std::string ip;         // the `ip` parameter; only used with --trust-proxy
};

// A malformed request is an Error whose message is the failure reason.
Result<AnnounceRequest> parse_announce(const std::string& raw_query, int max_numwant);
// Every info_hash of a scrape (20 raw bytes each).
Result<std::vector<std::string>> parse_scrape(const std::string& raw_query, std::size_t max_hashes);

} // namespace llmpt::tracker
