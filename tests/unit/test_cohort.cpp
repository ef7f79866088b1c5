// The cold-start cohort's decisions: chunking, leases and their lapse,
// reports, and the parts that come out (tracker/server/cohort.hpp), and the
// wire protocol's checks (tracker/cohort_protocol.hpp).
#include "torrent/parts.hpp"
#include "tracker/cohort_protocol.hpp"
#include "tracker/server/cohort.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <variant>

using namespace llmpt;
using namespace llmpt::tracker;
using Clock = CohortStore::Clock;

namespace {

const std::string kCohortCommit = "0123456789abcdef0123456789abcdef01234567";

cohort::JoinRequest join_request(std::vector<cohort::File> files) {
    cohort::JoinRequest r;
    r.repo_id = "org/model";
    r.revision = kCohortCommit;
    r.files = std::move(files);
    r.tracker = "http://tracker";
    return r;
}

template <class T>
const T& value(const Outcome<T>& o) {
    if (const auto* no = std::get_if<Refusal>(&o)) FAIL("refused: " << no->status << " " << no->message);
    return std::get<T>(o);
}

template <class T>
int refusal(const Outcome<T>& o) {
    const auto* no = std::get_if<Refusal>(&o);
    return no ? no->status : 0;
}

torrent::Sha256Digest digest(unsigned char b) {
    torrent::Sha256Digest d{};
    d.fill(b);
    return d;
}

// Leases and reports every chunk for `member` until none is left.
std::size_t drain(CohortStore& s, const cohort::Answer& joined, Clock::time_point now,
                  std::optional<std::vector<torrent::FilePart>>* parts = nullptr) {
    std::size_t n = 0;
    for (;;) {
        const auto a = value(s.lease({joined.cohort, joined.member, true}, now));
        if (!a.chunk) return n;
        cohort::ReportRequest r{joined.cohort, joined.member, a.chunk->path, a.chunk->first_piece,
                                std::vector<torrent::Sha256Digest>(a.chunk->pieces, digest(1))};
        auto rep = value(s.report(r, now));
        if (parts && rep.parts) *parts = rep.parts;
        ++n;
    }
}

} // namespace

TEST_CASE("a cohort cuts the snapshot into chunks of whole pieces, largest first") {
    CohortStore::Options o;
    o.target_chunks = 8;
    CohortStore s(o);
    const auto now = Clock::now();
    // 64 MiB in all: 256 KiB pieces, chunks of 8 MiB / 256 KiB = 32 pieces.
    const auto joined = value(s.join(join_request({{"a.bin", 48ull << 20}, {"b.bin", 16ull << 20}, {"c.json", 100}}), now));
    CHECK(joined.state == cohort::State::fetching);
    CHECK(joined.piece_length == 256 * 1024);
    CHECK(joined.remaining == 6 + 2 + 1);
    std::uint64_t last = ~0ull;
    std::set<std::pair<std::string, std::uint64_t>> seen;
    std::uint64_t bytes = 0;
    for (int i = 0; i < 9; ++i) {
        const auto a = value(s.lease({joined.cohort, joined.member, true}, now));
        REQUIRE(a.chunk);
        CHECK(a.chunk->length <= last);
        last = a.chunk->length;
        CHECK(a.chunk->offset == a.chunk->first_piece * joined.piece_length);
        CHECK(seen.insert({a.chunk->path, a.chunk->first_piece}).second);
        bytes += a.chunk->length;
    }
    CHECK(bytes == (64ull << 20) + 100);
    // Everything is leased (to this member): nothing more to hand out.
    CHECK_FALSE(value(s.lease({joined.cohort, joined.member, true}, now)).chunk);
}

TEST_CASE("members share a cohort, and the last report gives the parts") {
    CohortStore s;
    const auto now = Clock::now();
    const auto files = std::vector<cohort::File>{{"model.bin", 3ull << 20}, {"config.json", 10}};
    const auto a = value(s.join(join_request(files), now));
    const auto b = value(s.join(join_request({files[1], files[0]}), now)); // order does not matter
    CHECK(a.cohort == b.cohort);
    CHECK(a.member != b.member);
    CHECK(b.members == 2);

    const auto la = value(s.lease({a.cohort, a.member, true}, now));
    const auto lb = value(s.lease({b.cohort, b.member, true}, now));
    REQUIRE(la.chunk);
    REQUIRE(lb.chunk);
    CHECK(std::make_pair(la.chunk->path, la.chunk->first_piece) != std::make_pair(lb.chunk->path, lb.chunk->first_piece));

    std::optional<std::vector<torrent::FilePart>> parts;
    value(s.report({a.cohort, a.member, la.chunk->path, la.chunk->first_piece,
                    std::vector<torrent::Sha256Digest>(la.chunk->pieces, digest(1))},
                   now));
    drain(s, a, now, &parts);
    drain(s, b, now, &parts);
    // b's first chunk is still only leased: reporting it completes the cohort.
    cohort::ReportRequest r{b.cohort, b.member, lb.chunk->path, lb.chunk->first_piece,
                            std::vector<torrent::Sha256Digest>(lb.chunk->pieces, digest(2))};
    auto rep = value(s.report(r, now));
    if (rep.parts) parts = rep.parts;
    REQUIRE(parts);
    CHECK(rep.answer.state == cohort::State::assembling);
    REQUIRE(parts->size() == 2);
    for (const auto& p : *parts) CHECK(p.pieces.size() == torrent::pieces_in(p.size, 256 * 1024));
    s.published(a.cohort, "abc", now);
    const auto after = value(s.lease({a.cohort, a.member, true}, now));
    CHECK(after.state == cohort::State::published);
    CHECK(after.info_hash == "abc");
    CHECK_FALSE(after.chunk);
}

TEST_CASE("a member that stops calling loses its chunks to the next that asks") {
    CohortStore::Options o;
    o.lease = std::chrono::seconds(10);
    o.target_chunks = 1; // one chunk per file
    CohortStore s(o);
    const auto t0 = Clock::now();
    const auto files = std::vector<cohort::File>{{"only.bin", 1ull << 20}};
    const auto dead = value(s.join(join_request(files), t0));
    const auto live = value(s.join(join_request(files), t0));
    const auto leased = value(s.lease({dead.cohort, dead.member, true}, t0));
    REQUIRE(leased.chunk);
    // Within the lease, the live member is not given the dead one's chunk.
    CHECK_FALSE(value(s.lease({live.cohort, live.member, true}, t0 + std::chrono::seconds(9))).chunk);
    // A heartbeat (want=false) would have kept it; silence loses it.
    const auto taken = value(s.lease({live.cohort, live.member, true}, t0 + std::chrono::seconds(11)));
    REQUIRE(taken.chunk);
    CHECK(taken.chunk->path == leased.chunk->path);
    CHECK(taken.chunk->first_piece == leased.chunk->first_piece);
}

TEST_CASE("a heartbeat keeps a member's leases") {
    CohortStore::Options o;
    o.lease = std::chrono::seconds(10);
    o.target_chunks = 1; // one chunk per file
    CohortStore s(o);
    const auto t0 = Clock::now();
    const auto files = std::vector<cohort::File>{{"only.bin", 1ull << 20}};
    const auto slow = value(s.join(join_request(files), t0));
    const auto other = value(s.join(join_request(files), t0));
    REQUIRE(value(s.lease({slow.cohort, slow.member, true}, t0)).chunk);
    for (int i = 1; i <= 5; ++i) value(s.lease({slow.cohort, slow.member, false}, t0 + std::chrono::seconds(5 * i)));
    CHECK_FALSE(value(s.lease({other.cohort, other.member, true}, t0 + std::chrono::seconds(26))).chunk);
}

TEST_CASE("a cohort refuses what does not fit it") {
    CohortStore::Options o;
    o.max_cohorts = 1;
    o.max_members = 2;
    CohortStore s(o);
    const auto now = Clock::now();
    const auto files = std::vector<cohort::File>{{"m.bin", 1000}};
    const auto a = value(s.join(join_request(files), now));
    CHECK(refusal(s.join(join_request({{"m.bin", 1001}}), now)) == 409);  // another file list
    CHECK(refusal(s.join(join_request({{"m.bin", 1000}, {"x", 1}}), now)) == 409);
    value(s.join(join_request(files), now));
    CHECK(refusal(s.join(join_request(files), now)) == 503);             // full
    auto other = join_request(files);
    other.repo_id = "org/other";
    CHECK(refusal(s.join(other, now)) == 503);                           // too many cohorts
    CohortStore fresh;
    CHECK(refusal(fresh.join(join_request({{"empty", 0}}), now)) == 400);                // nothing to share
    CHECK(refusal(s.lease({a.cohort, "nobody", true}, now)) == 404);
    CHECK(refusal(s.lease({"nothing", a.member, true}, now)) == 404);

    const auto l = value(s.lease({a.cohort, a.member, true}, now));
    REQUIRE(l.chunk);
    CHECK(refusal(s.report({a.cohort, a.member, "m.bin", 7, {digest(1)}}, now)) == 400);           // no such chunk
    CHECK(refusal(s.report({a.cohort, a.member, "m.bin", 0, {digest(1), digest(2)}}, now)) == 400); // wrong count
}

TEST_CASE("the first report of a chunk stands") {
    CohortStore s;
    const auto now = Clock::now();
    const auto files = std::vector<cohort::File>{{"a", 1000}, {"b", 2000}};
    const auto m = value(s.join(join_request(files), now));
    const auto first = value(s.report({m.cohort, m.member, "a", 0, {digest(1)}}, now));
    CHECK(first.answer.remaining == 1);
    const auto again = value(s.report({m.cohort, m.member, "a", 0, {digest(9)}}, now));
    CHECK(again.answer.remaining == 1);
    const auto last = value(s.report({m.cohort, m.member, "b", 0, {digest(2)}}, now));
    REQUIRE(last.parts);
    for (const auto& p : *last.parts)
        if (p.path == "a") CHECK(p.pieces.front() == digest(1));
}

TEST_CASE("idle cohorts are forgotten") {
    CohortStore::Options o;
    o.idle = std::chrono::seconds(60);
    CohortStore s(o);
    const auto now = Clock::now();
    value(s.join(join_request({{"a", 10}}), now));
    CHECK(s.expire(now + std::chrono::seconds(30)) == 0);
    CHECK(s.expire(now + std::chrono::seconds(61)) == 1);
    CHECK(s.size() == 0);
}

TEST_CASE("the cohort protocol checks every field") {
    using namespace llmpt::tracker::cohort;
    const auto ok = join_body(join_request({{"a/b.bin", 5}}));
    CHECK_FALSE(parse_join(ok).error);
    const auto bad = [](const std::string& body) {
        const auto p = parse_join(body);
        REQUIRE(p.error);
        return *p.error;
    };
    CHECK(bad("[]").find("object") != std::string::npos);
    CHECK(bad(R"({"repo_id":"org/m","revision":"main","files":[{"path":"a","size":1}]})").find("revision") !=
          std::string::npos);
    const std::string head = R"({"repo_id":"org/m","revision":")" + kCohortCommit + R"(",)";
    CHECK(bad(head + R"("files":[]})").find("files") != std::string::npos);
    CHECK(bad(head + R"("files":[{"path":"../x","size":1}]})").find("unsafe") != std::string::npos);
    CHECK(bad(head + R"("files":[{"path":"a","size":-1}]})").find("size") != std::string::npos);
    CHECK(bad(head + R"("files":[{"path":"a","size":1},{"path":"a","size":1}]})").find("twice") != std::string::npos);
    CHECK(bad(head + R"("files":[{"path":"a","size":1}],"tracker":"file:///etc"})").find("tracker") !=
          std::string::npos);
    CHECK(bad(head + R"("repo_type":"weird","files":[{"path":"a","size":1}]})").find("repo_type") !=
          std::string::npos);

    ReportRequest r{"c", "m", "a", 3, {digest(7), digest(8)}};
    const auto parsed = parse_report(report_body(r));
    REQUIRE_FALSE(parsed.error);
    CHECK(parsed.value.hashes == r.hashes);
    CHECK(parsed.value.first_piece == 3);
    CHECK(parse_report(R"({"cohort":"c","member":"m","path":"a","first_piece":0,"hashes":"AAAA"})").error);
    CHECK(parse_lease(R"({"cohort":"c","member":"m","want":"yes"})").error);

    Answer a;
    a.state = State::fetching;
    a.chunk = Chunk{"x", 1, 2, 3, 4};
    a.remaining = 5;
    const auto back = parse_answer(answer_body(a));
    REQUIRE(back);
    REQUIRE(back->chunk);
    CHECK(back->chunk->length == 4);
    CHECK(back->remaining == 5);
    CHECK_FALSE(parse_answer(R"({"state":"dancing"})"));
}
