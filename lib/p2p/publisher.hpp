// What a seeder tells the tracker (docs/design.md, "Seeding"): publish the
// snapshot's torrent when the tracker holds none for the revision, and when
// to ask again. The tracker is behind `TrackerPort`, so these decisions are
// unit-tested with a fake (tests/unit/test_publisher.cpp).
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>
#include <llmpt/seed.hpp>
#include <llmpt/tracker.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>

namespace llmpt::p2p {

// The tracker as a seeder uses it; TrackerClient behind make_tracker_port().
class TrackerPort {
public:
    virtual ~TrackerPort() = default;
    virtual Result<std::optional<TorrentRecord>> lookup(RepoType type, const std::string& repo,
                                                        const std::string& revision) = 0;
    virtual Result<PublishResult> publish(RepoType type, const std::string& repo, const std::string& revision,
                                          const std::string& torrent) = 0;
};

// nullptr when `base_url` is empty (seeding without announcing).
std::unique_ptr<TrackerPort> make_tracker_port(const std::string& base_url, const std::string& publish_token);

// The torrent a seeder offers for one revision.
struct OfferedTorrent {
    RepoType type = RepoType::model;
    std::string repo;
    CommitId commit;
    InfoHash info_hash;
    const std::string& data;  // the .torrent bytes
};

// What publish_if_missing() did: the state, its text for people, and
// whether it is final (no retry is worth it until something changes).
struct Published {
    PublishState state;
    std::string text;
    bool final;
};

// Asks which torrent the tracker holds for the commit and publishes ours
// when it holds none. Another torrent held is left alone (the swarm is
// that one's). An unreachable tracker or a network failure is not final.
// `tracker` may be null: then nothing is published (final).
Published publish_if_missing(TrackerPort* tracker, const OfferedTorrent& t);

// When a seeder asks the tracker again. After a failure worth a retry:
// 1 s, doubling to 60 s, each with up to a quarter more at random (so a
// tracker restart does not meet every seeder at once). After a final
// answer: only when an announce was refused (the tracker may have lost the
// torrent) or every `check` interval (0: never), and not within 5 s of the
// last answer.
class PublishSchedule {
public:
    using Clock = std::chrono::steady_clock;
    PublishSchedule(const Published& first, std::chrono::seconds check, Clock::time_point now,
                    std::uint32_t seed = std::random_device{}());

    // Whether to ask now. `take_refused` says (and clears) whether an
    // announce was refused; it is called only once the wait is over.
    bool due(Clock::time_point now, const std::function<bool()>& take_refused);
    // What the asking gave.
    void record(const Published& p, Clock::time_point now);

    Clock::time_point next_try() const { return next_try_; }

private:
    bool final_;
    std::chrono::seconds check_;
    std::chrono::milliseconds backoff_{1000};
    Clock::time_point next_try_;
    Clock::time_point last_check_;
    std::mt19937 rng_;
};

} // namespace llmpt::p2p
