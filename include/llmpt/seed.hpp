// Seeding a cached snapshot: verify every blob, make (or reuse) the
// snapshot's torrent, seed it from the blobs themselves without a recheck,
// and publish it to the tracker when the tracker has none.
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>
#include <llmpt/session.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace llmpt {

struct SeedRequest {
    std::string repo;
    RepoType repo_type = RepoType::model;
    std::string revision = "main";
    std::filesystem::path cache_dir;
    std::string tracker;        // base URL; empty: seed without announcing
    std::string publish_token;
    bool hybrid = false;
    // How often maintain() asks the tracker whether it still holds the
    // torrent (and publishes again if not); 0: never.
    std::chrono::seconds tracker_check{0};
};

// Where the seeder's publish stands: the tracker stored our torrent, holds
// the same one, was not asked (no tracker, unreachable, another torrent
// held: see SeedStatus::publish), or refused it.
enum class PublishState { created, exists, skipped, failed };

struct SeedStatus {
    CommitId commit;
    InfoHash info_hash;
    std::size_t files = 0;
    std::uint64_t bytes = 0;
    std::uint64_t hashed_now = 0;   // blob bytes hashed at start (0 when all were remembered)
    PublishState publish_state = PublishState::skipped;
    std::string publish{};          // for people: "created", "exists", "skipped (why)" or "failed: why"
    unsigned publishes = 0;         // times this seeder created the torrent on the tracker
    int peers = 0;
    int leechers = 0;               // connected peers that are not complete
    int swarm_leechers = -1;        // leechers the tracker knows of; -1: not told yet
    std::uint64_t uploaded = 0;
    std::uint16_t listen_port = 0;
};

class Seeder {
public:
    // Seeds in `session` (llmpt/session.hpp), which must outlive the seeder.
    static Result<std::unique_ptr<Seeder>> start(Session& session, const SeedRequest& request);
    virtual ~Seeder() = default;
    virtual SeedStatus status() const = 0;
    // status() without peers and uploaded bytes: it does not ask the P2P
    // session, so polling hundreds of seeders every second costs nothing.
    virtual SeedStatus publish_status() const = 0;
    // Call now and then (every second is fine): when publishing failed
    // because the tracker was unreachable or refused for a passing reason,
    // tries again with backoff (1 s doubling to 60 s, with jitter). When
    // the tracker refuses an announce (it lost the torrent, say after a
    // restart on an empty database), checks and publishes again.
    virtual void maintain() = 0;
    // Asks the tracker for the swarm's counts now (a scrape): those in
    // status() (swarm_leechers) are from the last answer, which may be old.
    virtual void refresh_counts() = 0;
    // Whether every blob is still the file that was verified (same inode,
    // size and mtime). A changed blob must not be seeded any more.
    virtual bool intact() const = 0;
    // Stops seeding this snapshot (the session itself lives on).
    virtual void stop() = 0;
};

} // namespace llmpt
