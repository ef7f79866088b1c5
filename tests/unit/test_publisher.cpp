// The seeder's publishing decisions (lib/p2p/publisher.hpp) against a fake
// tracker: what it asks, when it publishes, which answers are final, and
// when it asks again.
#include "p2p/publisher.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace llmpt;
using namespace std::chrono_literals;
using p2p::Published;
using p2p::PublishSchedule;

namespace {

const CommitId kPubCommit = *CommitId::parse("00112233445566778899aabbccddeeff00112233");
const InfoHash kOurs = *InfoHash::parse(std::string(64, '1'));
const InfoHash kTheirs = *InfoHash::parse(std::string(64, '2'));
const std::string kTorrentBytes = "d4:infod...ee";

struct FakeTracker final : p2p::TrackerPort {
    Result<std::optional<TorrentRecord>> held = std::optional<TorrentRecord>{};
    Result<PublishResult> answer = PublishResult{PublishOutcome::created, kOurs, "published"};
    std::vector<std::string> calls;

    Result<std::optional<TorrentRecord>> lookup(RepoType type, const std::string& repo,
                                                const std::string& revision) override {
        calls.push_back(fmt("lookup", type, repo, revision));
        return held;
    }
    Result<PublishResult> publish(RepoType type, const std::string& repo, const std::string& revision,
                                  const std::string& torrent) override {
        calls.push_back(fmt("publish", type, repo, revision) + " " + torrent);
        return answer;
    }
    static std::string fmt(const char* what, RepoType type, const std::string& repo, const std::string& revision) {
        return std::string(what) + " " + std::string(to_string(type)) + " " + repo + "@" + revision;
    }
};

TorrentRecord record_of(const InfoHash& h) { return TorrentRecord{.info_hash = h}; }

Published offer(p2p::TrackerPort* t) {
    return p2p::publish_if_missing(t, {RepoType::dataset, "org/data", kPubCommit, kOurs, kTorrentBytes});
}

} // namespace

TEST_CASE("publisher: a torrent the tracker lacks is published for the commit, once") {
    FakeTracker t;
    const auto p = offer(&t);
    CHECK(p.state == PublishState::created);
    CHECK(p.final);
    REQUIRE(t.calls.size() == 2);
    CHECK(t.calls[0] == "lookup dataset org/data@" + kPubCommit.str());
    CHECK(t.calls[1] == "publish dataset org/data@" + kPubCommit.str() + " " + kTorrentBytes);

    t.calls.clear();
    t.answer = PublishResult{PublishOutcome::exists, kOurs, "already published"}; // a race another seeder won
    CHECK(offer(&t).state == PublishState::exists);
}

TEST_CASE("publisher: the tracker holding our torrent or another one is final, without a publish") {
    FakeTracker t;
    t.held = std::optional<TorrentRecord>(record_of(kOurs));
    auto p = offer(&t);
    CHECK((p.state == PublishState::exists && p.final));
    t.held = std::optional<TorrentRecord>(record_of(kTheirs));
    p = offer(&t);
    CHECK((p.state == PublishState::skipped && p.final));
    CHECK(p.text.find("another torrent") != std::string::npos);
    for (const auto& c : t.calls) CHECK(c.rfind("lookup", 0) == 0);
}

TEST_CASE("publisher: an unreachable tracker is tried again; a refusal is final, a lost answer is not") {
    FakeTracker t;
    t.held = Error(errc::network, "tracker unreachable");
    auto p = offer(&t);
    CHECK((p.state == PublishState::skipped && !p.final));
    CHECK(p.text == "skipped (tracker unreachable)");

    t.held = std::optional<TorrentRecord>{};
    t.answer = Error(errc::usage, "403: publish token required");
    p = offer(&t);
    CHECK((p.state == PublishState::failed && p.final));
    t.answer = Error(errc::network, "timed out");
    p = offer(&t);
    CHECK((p.state == PublishState::failed && !p.final));

    CHECK(p2p::publish_if_missing(nullptr, {RepoType::model, "org/m", kPubCommit, kOurs, kTorrentBytes}).text ==
          "skipped (no tracker)");
}

TEST_CASE("publish schedule: failures back off from 1 s to 60 s with jitter; final answers wait for a reason") {
    const auto t0 = PublishSchedule::Clock::now();
    const auto never_refused = [] { return false; };
    const Published failed{PublishState::skipped, "skipped (unreachable)", false};
    PublishSchedule s(failed, 0s, t0, 7);
    CHECK_FALSE(s.due(t0 + 999ms, never_refused));
    CHECK(s.due(t0 + 1s, never_refused));

    // Each failure doubles the wait, up to a minute, plus at most a quarter.
    auto now = t0 + 1s;
    std::chrono::milliseconds expect = 1s;
    for (int i = 0; i < 8; ++i) {
        s.record(failed, now);
        expect = std::min<std::chrono::milliseconds>(expect * 2, 60s);
        const auto wait = s.next_try() - now;
        CHECK(wait >= expect);
        CHECK(wait <= expect + expect / 4);
        CHECK_FALSE(s.due(now + expect - 1ms, never_refused));
        now = s.next_try();
        CHECK(s.due(now, never_refused));
    }

    // A final answer: not asked again without a refused announce...
    const Published ok{PublishState::created, "created", true};
    s.record(ok, now);
    int asked = 0;
    const auto refused = [&] {
        ++asked;
        return true;
    };
    CHECK_FALSE(s.due(now + 4s, refused)); // ...and never within 5 s
    CHECK(asked == 0);
    CHECK_FALSE(s.due(now + 1h, never_refused));
    CHECK(s.due(now + 5s, refused));
    CHECK(asked == 1);
}

TEST_CASE("publish schedule: a tracker check interval asks again after a final answer") {
    const auto t0 = PublishSchedule::Clock::now();
    const auto never_refused = [] { return false; };
    PublishSchedule s({PublishState::exists, "exists", true}, 30s, t0, 1);
    CHECK_FALSE(s.due(t0 + 29s, never_refused));
    CHECK(s.due(t0 + 30s, never_refused));
    s.record({PublishState::exists, "exists", true}, t0 + 30s);
    CHECK_FALSE(s.due(t0 + 59s, never_refused));
    CHECK(s.due(t0 + 60s, never_refused));
}
