// The client side of the llmpt tracker's REST API (docs/design.md, "The tracker"): which torrent
// holds a repo revision, its bytes, and publishing a new one.
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>
#include <llmpt/settings.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmpt {

struct TrackerFile {
    std::string path;
    std::uint64_t size = 0;
};

// Built as TorrentRecord{.info_hash = ...}: the members have initializers so
// that designated initialization names only what it sets.
struct TorrentRecord {
    std::string repo_id{};
    std::string revision{};
    RepoType repo_type = RepoType::model;
    std::string name{};
    InfoHash info_hash;        // v1 too for hybrid torrents
    std::uint64_t total_size = 0;
    std::uint64_t file_count = 0;
    std::uint64_t piece_length = 0;
    std::vector<TrackerFile> files{};
    std::string created_at{};
    std::uint64_t seeders = 0, leechers = 0, completed = 0;
};

// What a publish did: stored the torrent, or found the same one stored.
enum class PublishOutcome { created, exists };
std::string_view to_string(PublishOutcome o) noexcept; // "created" | "exists"

struct PublishResult {
    PublishOutcome status = PublishOutcome::created;
    InfoHash info_hash;        // of the torrent the tracker holds now
    std::string message;
};

struct TrackerOptions {
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds total_timeout{5000};
    std::string publish_token;  // sent as Authorization: Bearer

    // The timeouts and token a download's Settings give.
    static TrackerOptions from(const Settings& settings);
};

class TrackerClient {
public:
    // `base_url` may carry a path prefix ("http://host/tracker"); it is kept.
    explicit TrackerClient(std::string base_url, TrackerOptions options = {});

    // The torrent of a revision; nullopt when the tracker has none (404 or an
    // empty list). An unreachable tracker is errc::network, quickly.
    Result<std::optional<TorrentRecord>> lookup(RepoType type, const std::string& repo_id,
                                                const std::string& revision);
    // The .torrent bytes of a revision.
    Result<std::string> fetch_torrent(RepoType type, const std::string& repo_id,
                                      const std::string& revision);
    // Publishes a torrent; every JSON field is derived from `torrent_data`.
    Result<PublishResult> publish(RepoType type, const std::string& repo_id, const std::string& revision,
                                  const std::string& torrent_data);

    const std::string& base_url() const { return base_; }

private:
    std::string base_;
    TrackerOptions options_;
};

} // namespace llmpt
