// The tracker service's decisions through Service::handle(), no sockets:
// publish validation and storage (replacing a torrent an older llmpt made),
// the REST listing, announces.
#include <catch2/catch.hpp>

#include "torrent/parts.hpp"
#include "tracker/cohort_protocol.hpp"
#include "tracker/protocol.hpp"
#include "tracker/server/service.hpp"
#include "util/base64.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"

#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/torrent_info.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>

using namespace llmpt;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kServiceCommit(40, 'a');

torrent::FilePart part(const std::string& path, std::uint64_t size, unsigned char fill, bool v1) {
    torrent::FilePart p{path, size, {}, {}};
    const auto n = torrent::pieces_in(size, 256 * 1024);
    torrent::Sha256Digest h{};
    h.fill(fill);
    p.pieces.assign(n, h);
    if (v1) {
        torrent::Sha1Digest h1{};
        h1.fill(fill);
        p.v1_pieces.assign(n, h1);
    }
    return p;
}

std::string make(unsigned char fill, bool hybrid = false) {
    torrent::AssembleOptions o;
    o.hybrid = hybrid;
    auto t = torrent::assemble(kServiceCommit, {part("config.json", 100, fill, hybrid), part("model.bin", 600000, fill, hybrid)}, o);
    REQUIRE(t);
    return *t;
}

// What llmpt made before file attributes were dropped: every file executable.
std::string make_attributed() {
    lt::file_storage files;
    files.add_file(kServiceCommit + "/config.json", 100, lt::file_storage::flag_executable);
    files.add_file(kServiceCommit + "/model.bin", 600000, lt::file_storage::flag_executable);
    lt::create_torrent t(files, 256 * 1024, lt::create_torrent::v2_only);
    lt::sha256_hash h;
    std::memset(h.data(), 7, 32);
    for (const auto i : t.files().file_range()) {
        if (t.files().pad_file_at(i)) continue;
        const auto n = (t.files().file_size(i) + 256 * 1024 - 1) / (256 * 1024);
        for (int k = 0; k < n; ++k) t.set_hash2(i, lt::piece_index_t::diff_type(k), h);
    }
    std::string out;
    lt::bencode(std::back_inserter(out), t.generate());
    return out;
}

struct Fixture {
    fs::path dir = fs::temp_directory_path() / ("llmpt-svc-" + util::random_hex8());
    std::unique_ptr<tracker::Service> svc;
    std::vector<std::string> logged;

    // `before` runs on the database file before the service opens it.
    explicit Fixture(const std::function<void(const fs::path&)>& before = {}) {
        fs::create_directories(dir);
        if (before) before(dir / "t.db");
        tracker::ServiceOptions o;
        o.db_path = dir / "t.db";
        o.publish_rate = 0;
        o.announce_rate = 0;
        o.log = [this](const std::string& l) { logged.push_back(l); };
        auto s = tracker::Service::open(o);
        REQUIRE(s);
        svc = std::move(*s);
    }
    ~Fixture() { fs::remove_all(dir); }

    server::Response call(const std::string& method, const std::string& target, const std::string& body = {}) {
        server::Request r;
        r.method = method;
        r.target = target;
        const auto q = target.find('?');
        r.path = target.substr(0, q);
        r.query = q == std::string::npos ? "" : target.substr(q + 1);
        r.body = body;
        r.remote = "10.1.2.3";
        return svc->handle(r);
    }
    server::Response publish(const std::string& torrent, const std::string& revision = kServiceCommit) {
        auto facts = torrent::inspect(torrent);
        REQUIRE(facts);
        return call("POST", "/api/v1/publish",
                    tracker::protocol::publish_body(RepoType::model, "org/m", revision, *facts, torrent));
    }
    json listing() {
        auto r = call("GET", "/api/v1/torrents?repo_id=org%2Fm&revision=" + kServiceCommit);
        REQUIRE(r.status == 200);
        return json::parse(r.body);
    }
};

std::string error_of(const server::Response& r) { return json::parse(r.body).value("error", ""); }

std::string pct(const std::string& raw) {
    std::string out;
    char buf[4];
    for (unsigned char c : raw) {
        std::snprintf(buf, sizeof buf, "%%%02x", c);
        out += buf;
    }
    return out;
}

} // namespace

TEST_CASE("service: publish, the same again, another torrent for the revision") {
    Fixture f;
    const auto t = make(1);
    auto r = f.publish(t);
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["status"] == "created");
    const auto again = f.publish(t);
    CHECK(json::parse(again.body)["status"] == "exists");
    // The client reads the outcome as its enum and the hash as an InfoHash;
    // an answer without either is malformed.
    const auto parsed = tracker::protocol::parse_publish_result(again.body);
    REQUIRE(parsed);
    CHECK(parsed->status == PublishOutcome::exists);
    CHECK(parsed->info_hash == torrent::inspect(t)->info_hash);
    const std::string hash(64, 'c');
    CHECK(tracker::protocol::parse_publish_result(R"({"status":"created","info_hash":")" + hash + "\"}")->status ==
          PublishOutcome::created);
    CHECK_FALSE(tracker::protocol::parse_publish_result(R"({"status":"created"})"));
    CHECK_FALSE(tracker::protocol::parse_publish_result(R"({"status":"created","info_hash":"ab"})"));
    CHECK_FALSE(tracker::protocol::parse_publish_result(R"({"status":"stored"})"));
    CHECK_FALSE(tracker::protocol::parse_publish_result(R"({"info_hash":"ab"})"));
    const auto other = f.publish(make(2));
    CHECK(other.status == 409);
    CHECK(f.listing()["data"][0]["info_hash"] == torrent::inspect(t)->info_hash.v2());
}

TEST_CASE("service: a torrent an older llmpt made (file attributes) is replaced by the new one") {
    const auto old = make_attributed();
    // Stored as an older tracker would have stored it.
    Fixture reopened([&](const fs::path& db_path) {
        auto facts = torrent::inspect(old);
        REQUIRE(facts);
        REQUIRE_FALSE(facts->attributed.empty());
        auto db = tracker::Db::open(db_path);
        REQUIRE(db);
        tracker::TorrentRow row;
        row.repo_type = "model";
        row.repo_id = "org/m";
        row.revision = kServiceCommit;
        row.name = kServiceCommit;
        row.info_hash = facts->info_hash.v2();
        row.announce_key = facts->info_hash.announce_key();
        row.total_size = facts->total_size;
        row.file_count = facts->files.size();
        row.piece_length = facts->piece_length;
        REQUIRE(*(*db)->insert(row, old));
    });
    REQUIRE(reopened.listing()["total"] == 1);

    // The old torrent itself is refused now, by name.
    const auto again = reopened.publish(old);
    CHECK(again.status == 400);
    CHECK(error_of(again).find("attributes") != std::string::npos);
    // The new one takes its place; a third one is a conflict again.
    const auto now = make(3);
    const auto r = reopened.publish(now);
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["message"].get<std::string>().find("replaces") != std::string::npos);
    CHECK(reopened.listing()["data"][0]["info_hash"] == torrent::inspect(now)->info_hash.v2());
    CHECK(reopened.publish(make(4)).status == 409);
    // Announces for the old torrent are refused, for the new one answered.
    const auto old_key = *util::from_hex(torrent::inspect(old)->info_hash.announce_key());
    const auto new_key = *util::from_hex(torrent::inspect(now)->info_hash.announce_key());
    const std::string q = "&peer_id=-LM0010-abcdefghijkl&port=6881&left=0";
    CHECK(reopened.call("GET", "/announce?info_hash=" + pct(old_key) + q).body.find("unregistered") != std::string::npos);
    CHECK(reopened.call("GET", "/announce?info_hash=" + pct(new_key) + q).body.find("interval") != std::string::npos);
}

TEST_CASE("service: the listing names the v1 hash of a hybrid torrent") {
    Fixture f;
    const auto t = make(5, true);
    REQUIRE(f.publish(t).status == 200);
    const auto rec = f.listing()["data"][0];
    CHECK(rec["info_hash_v1"] == torrent::inspect(t)->info_hash.v1());
    CHECK(rec["info_hash_v1"].get<std::string>().size() == 40);
    // The client reads it back.
    CHECK(tracker::protocol::parse_record(rec)->info_hash == torrent::inspect(t)->info_hash);
}

TEST_CASE("service: bad publishes name the field") {
    Fixture f;
    CHECK(error_of(f.call("POST", "/api/v1/publish", "[1]")) == "body must be a JSON object");
    CHECK(error_of(f.call("POST", "/api/v1/publish", R"({"repo_id":"org/m"})")) == "revision: missing");
    const auto t = make(1);
    auto body = json::parse(tracker::protocol::publish_body(RepoType::model, "org/m", kServiceCommit, *torrent::inspect(t), t));
    body["total_size"] = 1;
    CHECK(error_of(f.call("POST", "/api/v1/publish", body.dump())) == "total_size: does not match the torrent");
    CHECK(f.call("GET", "/api/v1/publish").status == 405);
    // Bytes that are not UTF-8 in an error message do not make a 500.
    const auto bad = f.call("GET", "/api/v1/torrents/torrent?repo_id=org/m&revision=%ff");
    CHECK(bad.status == 404);
    CHECK(json::parse(bad.body).contains("error"));
}

namespace {

std::string cohort_join(const std::string& revision = kServiceCommit) {
    tracker::cohort::JoinRequest j;
    j.repo_id = "org/m";
    j.revision = revision;
    j.files = {{"config.json", 100}, {"model.bin", 600000}};
    return tracker::cohort::join_body(j);
}

} // namespace

TEST_CASE("service: a cohort's reported parts become the published torrent") {
    Fixture f;
    auto r = f.call("POST", "/api/v1/cohort/join", cohort_join());
    REQUIRE(r.status == 200);
    const auto joined = tracker::cohort::parse_answer(r.body);
    REQUIRE(joined);
    CHECK(joined->piece_length == 256 * 1024);
    // Report what make(7) is made of, chunk by chunk, in lease order.
    std::string last;
    for (int i = 0; i < 10; ++i) {
        auto l = f.call("POST", "/api/v1/cohort/lease",
                        tracker::cohort::lease_body({joined->cohort, joined->member, true}));
        REQUIRE(l.status == 200);
        const auto a = tracker::cohort::parse_answer(l.body);
        REQUIRE(a);
        if (!a->chunk) break;
        const auto whole = part(a->chunk->path, a->chunk->path == "model.bin" ? 600000 : 100, 7, false);
        tracker::cohort::ReportRequest rep{joined->cohort, joined->member, a->chunk->path, a->chunk->first_piece,
                                           std::vector<torrent::Sha256Digest>(a->chunk->pieces, whole.pieces[0])};
        auto reported = f.call("POST", "/api/v1/cohort/report", tracker::cohort::report_body(rep));
        REQUIRE(reported.status == 200);
        last = reported.body;
    }
    const auto done = tracker::cohort::parse_answer(last);
    REQUIRE(done);
    CHECK(done->state == tracker::cohort::State::published);
    CHECK(done->info_hash == torrent::inspect(make(7))->info_hash.v2());
    CHECK(f.listing()["data"][0]["info_hash"] == done->info_hash);
    // A late joiner is sent to the swarm.
    const auto late = tracker::cohort::parse_answer(f.call("POST", "/api/v1/cohort/join", cohort_join()).body);
    REQUIRE(late);
    CHECK(late->state == tracker::cohort::State::published);
}

TEST_CASE("service: cohort routes refuse what is wrong with the status that says it") {
    Fixture f;
    CHECK(f.call("GET", "/api/v1/cohort/join").status == 405);
    CHECK(f.call("POST", "/api/v1/cohort/nothing", "{}").status == 404);
    const auto bad = f.call("POST", "/api/v1/cohort/join", "{\"repo_id\": 5}");
    CHECK(bad.status == 400);
    CHECK(error_of(bad).find("repo_id") != std::string::npos);
    CHECK(f.call("POST", "/api/v1/cohort/join", cohort_join("main")).status == 400);
    CHECK(f.call("POST", "/api/v1/cohort/lease", R"({"cohort":"x","member":"y"})").status == 404);
    CHECK(f.call("POST", "/api/v1/cohort/report", R"({"cohort":"x"})").status == 400);
    CHECK(f.call("POST", "/api/v1/cohort/join", "\xff\xfe").status == 400);
}

TEST_CASE("service: with publish tokens a cohort needs one too") {
    fs::path dir = fs::temp_directory_path() / ("llmpt-svc-" + util::random_hex8());
    fs::create_directories(dir);
    tracker::ServiceOptions o;
    o.db_path = dir / "t.db";
    o.publish_tokens = {"sesame"};
    auto s = tracker::Service::open(o);
    REQUIRE(s);
    server::Request r;
    r.method = "POST";
    r.path = r.target = "/api/v1/cohort/join";
    r.body = cohort_join();
    r.remote = "10.0.0.1";
    CHECK((*s)->handle(r).status == 401);
    r.headers["authorization"] = "Bearer sesame";
    CHECK((*s)->handle(r).status == 200);
    fs::remove_all(dir);
}
