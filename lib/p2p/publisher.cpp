// The seeder's publishing decisions (p2p/publisher.hpp).
#include "p2p/publisher.hpp"

#include <algorithm>

namespace llmpt::p2p {

namespace {

class ClientPort final : public TrackerPort {
public:
    ClientPort(const std::string& base_url, const std::string& token)
        : client_(base_url, TrackerOptions{.publish_token = token}) {}
    Result<std::optional<TorrentRecord>> lookup(RepoType type, const std::string& repo,
                                                const std::string& revision) override {
        return client_.lookup(type, repo, revision);
    }
    Result<PublishResult> publish(RepoType type, const std::string& repo, const std::string& revision,
                                  const std::string& torrent) override {
        return client_.publish(type, repo, revision, torrent);
    }

private:
    TrackerClient client_;
};

} // namespace

std::unique_ptr<TrackerPort> make_tracker_port(const std::string& base_url, const std::string& publish_token) {
    if (base_url.empty()) return nullptr;
    return std::make_unique<ClientPort>(base_url, publish_token);
}

Published publish_if_missing(TrackerPort* tracker, const OfferedTorrent& t) {
    if (!tracker) return {PublishState::skipped, "skipped (no tracker)", true};
    auto found = tracker->lookup(t.type, t.repo, t.commit.str());
    if (!found) return {PublishState::skipped, "skipped (" + found.error().message + ")", false};
    if (*found && (*found)->info_hash == t.info_hash) return {PublishState::exists, "exists", true};
    if (*found)
        return {PublishState::skipped, "skipped (the tracker holds another torrent for this revision)", true};
    auto pub = tracker->publish(t.type, t.repo, t.commit.str(), t.data);
    if (pub) {
        const auto state = pub->status == PublishOutcome::created ? PublishState::created : PublishState::exists;
        return {state, std::string(to_string(pub->status)), true};
    }
    return {PublishState::failed, "failed: " + pub.error().message, pub.error().code != errc::network};
}

PublishSchedule::PublishSchedule(const Published& first, std::chrono::seconds check, Clock::time_point now,
                                 std::uint32_t seed)
    : final_(first.final), check_(check), last_check_(now), rng_(seed) {
    next_try_ = now + backoff_;
}

bool PublishSchedule::due(Clock::time_point now, const std::function<bool()>& take_refused) {
    if (now < next_try_) return false;
    if (!final_) return true;
    if (take_refused() || (check_.count() > 0 && now >= last_check_ + check_)) {
        final_ = false;
        last_check_ = now;
        return true;
    }
    return false;
}

void PublishSchedule::record(const Published& p, Clock::time_point now) {
    final_ = p.final;
    if (final_) {
        next_try_ = now + std::chrono::seconds(5);
        return;
    }
    backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, std::chrono::seconds(60));
    std::uniform_int_distribution<long> jitter(0, backoff_.count() / 4);
    next_try_ = now + backoff_ + std::chrono::milliseconds(jitter(rng_));
}

} // namespace llmpt::p2p
