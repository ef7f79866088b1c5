#include <catch2/catch.hpp>

#include "cache/layout.hpp"
#include "util/fd.hpp"
#include "temp_dir.hpp"

#include <llmpt/cache.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>

using namespace llmpt;
namespace fs = std::filesystem;
using test::TempDir;

namespace {
} // namespace

TEST_CASE("blob link targets climb one level per folder") {
    const auto e = *Etag::parse(std::string(40, 'a'));
    CHECK(cache::blob_link_target("f.txt", e) == "../../blobs/" + e.str());
    CHECK(cache::blob_link_target("a/b/f.txt", e) == "../../../../blobs/" + e.str());
}

TEST_CASE("revision names are safe as refs paths") {
    CHECK(cache::safe_revision("main"));
    CHECK(cache::safe_revision("refs/pr/1"));
    CHECK_FALSE(cache::safe_revision("../x"));
    CHECK_FALSE(cache::safe_revision("/abs"));
    CHECK_FALSE(cache::safe_revision(""));
}

TEST_CASE("import builds the exact cache layout and verify checks it") {
    TempDir src, cache_dir;
    fs::create_directories(src.path / "sub");
    std::ofstream(src.path / "config.json") << "{\"a\": 1}\n";
    std::ofstream(src.path / "sub" / "w.bin", std::ios::binary) << std::string("\0\1\2", 3);
    fs::create_directories(src.path / ".git");
    std::ofstream(src.path / ".git" / "HEAD") << "ignored";

    auto r = import_folder({src.path, "org/name", RepoType::model, "main", cache_dir.path});
    REQUIRE(r);
    CHECK(r->files == 2);
    const auto repo = cache_dir.path / "models--org--name";
    // refs/main: the commit, no newline
    std::ifstream ref(repo / "refs" / "main");
    std::string content((std::istreambuf_iterator<char>(ref)), {});
    CHECK(content == r->commit.str());
    // config.json is a git blob (40 hex), w.bin binary -> sha256 (64 hex)
    const auto cfg = fs::read_symlink(repo / "snapshots" / r->commit.str() / "config.json").string();
    CHECK(cfg.size() == std::string("../../blobs/").size() + 40);
    const auto bin = fs::read_symlink(repo / "snapshots" / r->commit.str() / "sub" / "w.bin").string();
    CHECK(bin.rfind("../../../blobs/", 0) == 0);
    CHECK(bin.size() == std::string("../../../blobs/").size() + 64);
    CHECK(fs::exists(cache_dir.path / "CACHEDIR.TAG"));
    CHECK_FALSE(fs::exists(repo / "snapshots" / r->commit.str() / ".git"));

    // deterministic commit
    TempDir other;
    auto r2 = import_folder({src.path, "org/name", RepoType::model, "main", other.path});
    REQUIRE(r2);
    CHECK(r2->commit == r->commit);

    const RepoRef ref_{RepoType::model, *RepoId::parse("org/name")};
    auto good = verify_snapshot(cache_dir.path, ref_, "main");
    REQUIRE(good);
    CHECK(good->ok());
    CHECK(good->files_checked == 2);

    // corrupt a blob: verify names it
    const auto blob = fs::canonical(repo / "snapshots" / r->commit.str() / "config.json");
    fs::permissions(blob, fs::perms::owner_write, fs::perm_options::add);
    std::ofstream(blob) << "tampered";
    auto bad = verify_snapshot(cache_dir.path, ref_, "main");
    REQUIRE(bad);
    REQUIRE(bad->problems.size() == 1);
    CHECK(bad->problems[0].path == "config.json");
}

TEST_CASE("locks exclude a second holder") {
    TempDir d;
    auto a = cache::FileLock::try_lock(d.path / "x.lock");
    REQUIRE(a);
    CHECK(a->held());
    // flock is per open file description: a second open in this process conflicts too
    auto b = cache::FileLock::try_lock(d.path / "x.lock");
    REQUIRE(b);
    CHECK_FALSE(b->held());
    auto c = cache::FileLock::lock(d.path / "x.lock", std::chrono::seconds(0), "x");
    CHECK_FALSE(c);
    // A wait ends at once when the caller cancels, whatever the timeout.
    std::atomic<bool> cancel{true};
    const auto t0 = std::chrono::steady_clock::now();
    auto e = cache::FileLock::lock(d.path / "x.lock", std::chrono::seconds(600), "x", &cancel);
    REQUIRE_FALSE(e);
    CHECK(e.error().code == errc::interrupted);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}
