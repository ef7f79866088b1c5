#include <catch2/catch.hpp>

#include "download/destination.hpp"
#include "util/fd.hpp"
#include "temp_dir.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

using namespace llmpt;
namespace fs = std::filesystem;
using test::TempDir;

namespace {

void write(const fs::path& p, const std::string& data) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << data;
}

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

ino_t inode(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_ino;
}

// The regular files below `dir`, relative to it, sorted.
std::vector<std::string> files_under(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
    std::sort(out.begin(), out.end());
    return out;
}

fetch::Wanted wanted(const std::string& path, const std::string& data, std::vector<std::string> paths = {}) {
    hub::RemoteFile f{path, data.size(), *Etag::parse(std::string(40, 'b')), false};
    return fetch::Wanted{std::move(f), paths.empty() ? std::vector<std::string>{path} : std::move(paths)};
}

const auto kDestinationCommit = *CommitId::parse(std::string(40, 'c'));

} // namespace

TEST_CASE("a local dir: a staged file is linked into place, a fetched one moved, an old one replaced") {
    TempDir dir;
    const auto dest = fetch::local_dir_destination(dir.path, kDestinationCommit);
    CHECK(dest->staging_root() == dir.path / ".cache" / "huggingface" / "llmpt-staging");
    CHECK(dest->placed_path(wanted("sub/w.bin", "", {"sub/w.bin", "x/w.bin"})) == dir.path / "sub" / "w.bin");
    const auto spot = dest->resume_spot(wanted("sub/w.bin", ""));
    CHECK(spot.tmp_dir == dir.path / ".cache" / "huggingface" / "download" / "sub");
    CHECK(spot.tmp_stem == "w.bin");
    CHECK(spot.journal == dir.path / ".cache" / "huggingface" / "download" / "sub" / "w.bin.parts");

    const auto staged = dest->staging_root() / kDestinationCommit.str() / "sub" / "w.bin";
    write(staged, "new bytes");
    write(dir.path / "sub" / "w.bin", "old bytes");
    std::vector<std::string> ready;
    const auto on_ready = [&](const std::string& p, const fs::path& local, std::uint64_t size) {
        ready.push_back(p + " " + local.string() + " " + std::to_string(size));
    };
    REQUIRE(dest->place(wanted("sub/w.bin", "new bytes"), staged, fetch::Destination::From::staging, on_ready));
    CHECK(read(dir.path / "sub" / "w.bin") == "new bytes");
    CHECK(inode(dir.path / "sub" / "w.bin") == inode(staged)); // linked, not copied
    CHECK(ready == std::vector<std::string>{"sub/w.bin " + (dir.path / "sub" / "w.bin").string() + " 9"});
    const auto meta = read(dir.path / ".cache" / "huggingface" / "download" / "sub" / "w.bin.metadata");
    CHECK(meta.rfind(kDestinationCommit.str() + "\n" + std::string(40, 'b') + "\n", 0) == 0);

    const auto tmp = spot.tmp_dir / "w.bin.0123abcd.incomplete";
    write(tmp, "fetched");
    REQUIRE(dest->place(wanted("sub/w.bin", "fetched"), tmp, fetch::Destination::From::fetcher, nullptr));
    CHECK(read(dir.path / "sub" / "w.bin") == "fetched");
    CHECK_FALSE(fs::exists(tmp));
    CHECK(read(staged) == "new bytes"); // the old file was replaced, not written into
    // no temp names left behind
    CHECK(files_under(dir.path / "sub") == std::vector<std::string>{"w.bin"});
}

TEST_CASE("the cache: a staged file becomes the blob (same inode) and every path links to it") {
    TempDir root;
    const cache::RepoCache cache(root.path, RepoRef{RepoType::model, *RepoId::parse("org/m")});
    REQUIRE(cache.ensure_layout());
    const auto dest = fetch::cache_destination(cache, kDestinationCommit);
    CHECK(dest->placed_path(wanted("a.json", "")) == cache.blob_path(*Etag::parse(std::string(40, 'b'))));
    const auto w = wanted("a.json", "{}\n", {"a.json", "copy/a.json"});
    const auto spot = dest->resume_spot(w);
    CHECK(spot.tmp_dir == cache.repo_dir() / "blobs");
    CHECK(spot.tmp_stem == w.file.etag.str());

    const auto staged = dest->staging_root() / kDestinationCommit.str() / "a.json";
    write(staged, "{}\n");
    int ready = 0;
    REQUIRE(dest->place(w, staged, fetch::Destination::From::staging,
                        [&](const std::string&, const fs::path&, std::uint64_t) { ++ready; }));
    CHECK(ready == 2);
    CHECK(inode(cache.blob_path(w.file.etag)) == inode(staged));
    CHECK(read(cache.snapshot_dir(kDestinationCommit) / "copy" / "a.json") == "{}\n");
    CHECK(fs::read_symlink(cache.snapshot_dir(kDestinationCommit) / "copy" / "a.json") ==
          fs::path("../../../blobs") / w.file.etag.str());
}

TEST_CASE("a fetched file on another file system is copied into place") {
    // /dev/shm (tmpfs) against the temp folder's file system, where they differ
    if (!fs::is_directory("/dev/shm")) {
        WARN("skipped: needs /dev/shm");
        return;
    }
    TempDir here, there("/dev/shm");
    struct stat a {}, b {};
    REQUIRE(::stat(here.path.c_str(), &a) == 0);
    REQUIRE(::stat(there.path.c_str(), &b) == 0);
    if (a.st_dev == b.st_dev) {
        WARN("skipped: /dev/shm is on the temp folder's file system");
        return;
    }
    const auto dest = fetch::local_dir_destination(here.path, kDestinationCommit);
    const auto tmp = there.path / "f.bin.0123abcd.incomplete";
    write(tmp, "bytes");
    REQUIRE(dest->place(wanted("f.bin", "bytes"), tmp, fetch::Destination::From::fetcher, nullptr));
    CHECK(read(here.path / "f.bin") == "bytes");
    CHECK_FALSE(fs::exists(tmp));
    CHECK(files_under(here.path) == std::vector<std::string>{".cache/huggingface/download/f.bin.metadata", "f.bin"});
}
