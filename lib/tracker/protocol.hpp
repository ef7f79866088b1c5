// tracker/: the llmpt tracker's REST protocol, written once for both ends
// (TrackerClient in tracker/client.cpp, the service in tracker/server/).
// The routes, fields and status codes are in docs/design.md ("The tracker").
#pragma once

#include "torrent/inspect.hpp"

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>
#include <llmpt/tracker.hpp>

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmpt::tracker::protocol {

// One entry of GET /api/v1/torrents {"total", "data": [record...]}.
nlohmann::json record_json(const TorrentRecord& r);
// nullopt when the entry is not an object or has no info_hash; fields of
// the wrong type read as empty.
std::optional<TorrentRecord> parse_record(const nlohmann::json& entry);
// The records of a GET /api/v1/torrents answer (entries that are not
// records are skipped); nullopt when the body is not such an answer.
std::optional<std::vector<TorrentRecord>> parse_records(std::string_view body);

// The body of POST /api/v1/publish: every field derived from the torrent.
std::string publish_body(RepoType type, const std::string& repo_id, const std::string& revision,
                         const torrent::TorrentFacts& facts, std::string_view torrent_data);

// A publish as the server reads it. On failure `error` says what was wrong,
// naming the field (an HTTP 400), and the fields read so far are set (for
// the audit log).
struct Publish {
    std::string repo_id, revision, repo_type = "model";
    std::string torrent;            // the decoded torrent_data
    // Set once the torrent decodes; then checked as a snapshot torrent of
    // `revision` and against the fields the client sent (`error` if not).
    std::optional<torrent::TorrentFacts> facts;
    std::optional<std::string> error;
};
Publish parse_publish(std::string_view body);

// The 200 answer to a publish: {"message", "info_hash", "announce_key", "status"}.
std::string publish_result_body(const PublishResult& r);
std::optional<PublishResult> parse_publish_result(std::string_view body);

// {"error": message}, the shape of every error answer.
std::string error_body(std::string_view message);
// The error message of an answer, or "HTTP {status}".
std::string error_text(int status, std::string_view body);

} // namespace llmpt::tracker::protocol
