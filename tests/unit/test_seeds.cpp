// The daemon's seeding decisions (daemon/seeds) with a fake Hub listing, fake
// seeders and a fake clock: what a scan seeds, stops, lists and retries.
#include "daemon/seeds.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

using namespace llmpt;
using namespace std::chrono;
using daemon::Seeds;
using daemon::Snapshot;

namespace {

const CommitId kSeedsFakeCommit = *CommitId::parse("fedcba9876543210fedcba9876543210fedcba98");
const InfoHash kSeedsFakeHash = *InfoHash::parse(std::string(64, 'a'));

struct FakeSeeder final : Seeder {
    std::shared_ptr<bool> stopped = std::make_shared<bool>(false);
    std::shared_ptr<bool> whole = std::make_shared<bool>(true);
    SeedStatus status() const override {
        SeedStatus s{.commit = kSeedsFakeCommit, .info_hash = kSeedsFakeHash};
        s.publish = "created";
        return s;
    }
    SeedStatus publish_status() const override { return status(); }
    void maintain() override {}
    void refresh_counts() override {}
    bool intact() const override { return *whole; }
    void stop() override { *stopped = true; }
};

const CommitId kCommit = *CommitId::parse("0123456789abcdef0123456789abcdef01234567");

Etag etag_of(char c) { return *Etag::parse(std::string(64, c)); }

// A cache holding one snapshot of org/m; `files` say which of a.bin (3
// bytes) and b.bin (5 bytes) are there; with_manifest: llmpt wrote its
// manifest (the commit's files are a.bin and b.bin).
struct Cache {
    test::TempDir dir;
    RepoRef repo{RepoType::model, *RepoId::parse("org/m")};
    cache::RepoCache rc{dir.path, repo};
    std::vector<cache::ManifestEntry> commit_files{{"a.bin", etag_of('a'), 3}, {"b.bin", etag_of('b'), 5}};

    Cache(std::initializer_list<const char*> files, bool with_manifest) {
        REQUIRE(rc.ensure_layout());
        for (const auto* name : files) add(name);
        if (with_manifest) REQUIRE(cache::write_manifest(rc, kCommit, commit_files));
    }
    void add(const std::string& name) {
        for (const auto& f : commit_files)
            if (f.path == name) {
                std::ofstream(rc.blob_path(f.etag)) << std::string(f.size, 'x');
                REQUIRE(rc.link_snapshot(kCommit, f.path, f.etag));
            }
    }
};

// Seeds over a Cache with counted fakes and a clock the test moves.
struct Fixture {
    Cache& cache;
    steady_clock::time_point now = steady_clock::now();
    int listed = 0, started = 0;
    bool busy = false, seeding_fails = false;
    std::optional<Error> listing_fails;
    std::vector<std::string> log;
    std::vector<FakeSeeder> seeders; // copies share the flags
    std::unique_ptr<Seeds> seeds;

    explicit Fixture(Cache& c) : cache(c) {
        Seeds::Config sc;
        sc.caches = {cache.dir.path};
        sc.hub = "hub.test";
        sc.list_files = [this](const Snapshot&) -> Result<std::vector<cache::ManifestEntry>> {
            ++listed;
            if (listing_fails) return *listing_fails;
            return cache.commit_files;
        };
        sc.start_seeder = [this](const Snapshot& s) -> Result<std::unique_ptr<Seeder>> {
            ++started;
            CHECK(s.commit == kCommit);
            if (seeding_fails) return Error(errc::integrity, "a blob does not match its name");
            auto f = std::make_unique<FakeSeeder>();
            seeders.push_back(*f);
            return std::unique_ptr<Seeder>(std::move(f));
        };
        sc.busy = [this](const std::filesystem::path&, const RepoRef&) { return busy; };
        sc.log = [this](const std::string& line) { log.push_back(line); };
        sc.now = [this] { return now; };
        seeds = std::make_unique<Seeds>(std::move(sc));
    }
    int logged(const std::string& part) const {
        return static_cast<int>(std::count_if(log.begin(), log.end(),
                                              [&](const auto& l) { return l.find(part) != std::string::npos; }));
    }
};

} // namespace

TEST_CASE("seeds: cache folder names map to repos, nothing else does") {
    const auto m = daemon::repo_of_folder("models--org--name");
    REQUIRE(m);
    CHECK(m->type == RepoType::model);
    CHECK(m->id.str() == "org/name");
    CHECK(daemon::repo_of_folder("datasets--squad")->type == RepoType::dataset);
    CHECK(daemon::repo_of_folder("spaces--org--app")->type == RepoType::space);
    for (const auto* other : {"blobs", ".locks", "models--", "model--org--x", "models--org--na me", "models--..--x"})
        CHECK_FALSE(daemon::repo_of_folder(other));
}

TEST_CASE("seeds: a complete snapshot is seeded once and stopped when it is deleted") {
    Cache c({"a.bin", "b.bin"}, true);
    Fixture f(c);
    auto r = f.seeds->scan();
    CHECK(r.added == 1);
    CHECK(f.seeds->size() == 1);
    CHECK(f.logged("seeding model org/m@" + kCommit.str()) == 1);
    r = f.seeds->scan();
    CHECK(r.added == 0);
    CHECK(f.started == 1);
    CHECK(f.listed == 0); // it has a manifest: the Hub is not asked

    std::filesystem::remove_all(c.rc.snapshot_dir(kCommit));
    r = f.seeds->scan();
    CHECK(r.removed == 1);
    CHECK(f.seeds->size() == 0);
    CHECK(*f.seeders.front().stopped);
    CHECK(f.logged("the snapshot is gone") == 1);
}

TEST_CASE("seeds: a snapshot missing a file of its manifest is not seeded") {
    Cache c({"a.bin"}, true);
    Fixture f(c);
    CHECK(f.seeds->scan().added == 0);
    CHECK(f.started == 0);
    c.add("b.bin");
    CHECK(f.seeds->scan().added == 1);
}

TEST_CASE("seeds: without a manifest the Hub lists the commit once; partial is said once, complete is seeded") {
    Cache c({"a.bin"}, false);
    Fixture f(c);
    f.seeds->scan();
    f.seeds->scan();
    CHECK(f.listed == 1); // a commit's files never change
    CHECK(f.started == 0);
    CHECK(f.logged("only part of the commit's 2 files") == 1);
    c.add("b.bin");
    CHECK(f.seeds->scan().added == 1);
    CHECK(f.listed == 1);
    CHECK(f.logged("listed model org/m@") == 1);
    const auto manifest = cache::read_manifest(c.rc, kCommit);
    REQUIRE(manifest);
    CHECK(manifest->size() == 2);
}

TEST_CASE("seeds: a repo a task is writing into is not listed; its task writes the manifest") {
    Cache c({"a.bin", "b.bin"}, false);
    Fixture f(c);
    f.busy = true;
    CHECK(f.seeds->scan().added == 0);
    CHECK(f.listed == 0);
    f.busy = false;
    CHECK(f.seeds->scan().added == 1);
    CHECK(f.listed == 1);
}

TEST_CASE("seeds: a failed listing waits: 5 min, or an hour for a commit the Hub does not know") {
    Cache c({"a.bin", "b.bin"}, false);
    Fixture f(c);
    f.listing_fails = Error(errc::network, "no route");
    f.seeds->scan();
    f.seeds->scan();
    CHECK(f.listed == 1);
    CHECK(f.logged("cannot list model org/m@" + kCommit.str() + " on the Hub (hub.test)") == 1);
    f.now += minutes(6);
    f.listing_fails = Error(errc::not_found, "no such commit");
    f.seeds->scan();
    CHECK(f.listed == 2);
    f.now += minutes(30);
    f.seeds->scan();
    CHECK(f.listed == 2);
    f.now += minutes(31);
    f.listing_fails.reset();
    CHECK(f.seeds->scan().added == 1);
    CHECK(f.listed == 3);
}

TEST_CASE("seeds: a snapshot that fails to seed, or whose blob changed, is tried again after 5 min") {
    Cache c({"a.bin", "b.bin"}, true);
    Fixture f(c);
    f.seeding_fails = true;
    CHECK(f.seeds->scan().failed == 1);
    CHECK(f.logged("cannot seed model org/m@") == 1);
    f.seeding_fails = false;
    CHECK(f.seeds->scan().added == 0);
    CHECK(f.started == 1);
    f.now += minutes(6);
    CHECK(f.seeds->scan().added == 1);

    *f.seeders.front().whole = false; // a blob was rewritten
    auto r = f.seeds->scan();
    CHECK(r.removed == 1);
    CHECK(*f.seeders.front().stopped);
    CHECK(f.logged("a blob changed since it was verified") == 1);
    CHECK(f.seeds->scan().added == 0);
    f.now += minutes(6);
    CHECK(f.seeds->scan().added == 1);
    CHECK(f.started == 3);
}
