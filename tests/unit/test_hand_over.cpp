// The P2P -> HTTP hand-over and the Hub-hash check of P2P files, on real
// files in a temp folder: no sockets, no libtorrent.
#include <catch2/catch.hpp>

#include "cache/layout.hpp"
#include "download/file_check.hpp"
#include "download/hand_over.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"
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

const auto kHandOverCommit = *CommitId::parse(std::string(40, 'c'));

fetch::Wanted wanted(const std::string& path, const std::string& data) {
    const auto etag = *Etag::parse(util::sha256_hex(data));
    return fetch::Wanted{hub::RemoteFile{path, data.size(), etag, true}, {path}};
}

} // namespace

TEST_CASE("hand-over: the pieces peers delivered become the fetcher's resume state") {
    TempDir root;
    const cache::RepoCache cache(root.path, RepoRef{RepoType::model, *RepoId::parse("org/m")});
    REQUIRE(cache.ensure_layout());
    const auto dest = fetch::cache_destination(cache, kHandOverCommit);
    const std::string data(10 * 1000, 'x');
    const auto w = wanted("m.bin", data);
    const auto staged = dest->staging_root() / kHandOverCommit.str() / "m.bin";
    write(staged, data.substr(0, 4000)); // libtorrent wrote the first four pieces (1000 bytes each), one failed its check
    const std::vector<bool> have{true, true, false, true, false, false, false, false, false, false};
    const auto n = fetch::hand_over(*dest, w, staged, 1000, have);
    CHECK(n == 3000);
    const auto spot = dest->resume_spot(w);
    const auto journal = util::read_small_file(spot.journal, 1 << 20);
    REQUIRE(journal);
    // The temp file is the staging inode, grown to the file's size.
    std::string tmp;
    for (const auto& e : fs::directory_iterator(spot.tmp_dir))
        if (e.path().extension() == ".incomplete") tmp = e.path().string();
    REQUIRE_FALSE(tmp.empty());
    struct stat a {}, b {};
    REQUIRE(::stat(tmp.c_str(), &a) == 0);
    REQUIRE(::stat(staged.c_str(), &b) == 0);
    CHECK(a.st_ino == b.st_ino);
    CHECK(a.st_size == 10000);
    CHECK(journal->find(fs::path(tmp).filename().string()) != std::string::npos);

    // Nothing delivered: nothing to hand over, nothing made.
    CHECK(fetch::hand_over(*dest, wanted("e.bin", "abc"), staged, 1000, {false}) == 0);

    // Once HTTP has put the file in place, staging lets go of its name.
    ::rename(tmp.c_str(), cache.blob_path(w.file.etag).c_str());
    fetch::drop_staged({{staged, cache.blob_path(w.file.etag)}}, dest->staging_root() / kHandOverCommit.str());
    CHECK_FALSE(fs::exists(staged));
    CHECK_FALSE(fs::exists(dest->staging_root() / kHandOverCommit.str()));
    CHECK(fs::exists(cache.blob_path(w.file.etag)));
}

TEST_CASE("file check: read back along the contiguous checked pieces, right and wrong bytes") {
    TempDir root;
    const std::string data = "0123456789abcdefghij"; // 20 bytes, pieces of 8
    const auto staged = root.path / "f.bin";
    write(staged, data);
    fetch::FileCheck check(staged, *Etag::parse(util::sha256_hex(data)), data.size());
    auto r = check.advance({true, false, true}, 8);
    REQUIRE(r);
    CHECK_FALSE(*r); // a hole: not done, the first piece hashed
    r = check.advance({true, true, true}, 8);
    REQUIRE(r);
    REQUIRE(*r);
    CHECK(**r == util::sha256_hex(data));

    write(staged, "0123456789abcdefghiX"); // a peer lied
    fetch::FileCheck bad(staged, *Etag::parse(util::sha256_hex(data)), data.size());
    r = bad.advance({true, true, true}, 8);
    REQUIRE(r);
    REQUIRE(*r);
    CHECK(**r != util::sha256_hex(data));

    // A stream that was started, then given up (staging held bytes already):
    // read back instead.
    write(staged, data);
    fetch::FileCheck streamed(staged, *Etag::parse(util::sha256_hex(data)), data.size());
    streamed.start_stream();
    REQUIRE(streamed.stream());
    streamed.stop_stream();
    CHECK_FALSE(streamed.stream());
    r = streamed.advance({true, true, true}, 8);
    REQUIRE(r);
    CHECK(r->value() == util::sha256_hex(data));

    // Resumed from a prefix this process hashed as it fetched it: the prefix
    // is not read back (here staging no longer holds it), the rest is.
    write(staged, "XXXXXXXXXXXXXXXXghij");
    auto prefix = util::hasher_for(Etag::Kind::sha256, data.size());
    prefix.update(data.substr(0, 16));
    fetch::FileCheck resumed(staged, *Etag::parse(util::sha256_hex(data)), data.size());
    resumed.resume(prefix, 16);
    r = resumed.advance({true, true, true}, 8);
    REQUIRE(r);
    CHECK(r->value() == util::sha256_hex(data));
    // The whole file hashed that way: nothing is read at all.
    fs::remove(staged);
    prefix.update(data.substr(16));
    fetch::FileCheck whole(staged, *Etag::parse(util::sha256_hex(data)), data.size());
    whole.resume(prefix, data.size());
    r = whole.advance({true, true, true}, 8);
    REQUIRE(r);
    CHECK(r->value() == util::sha256_hex(data));
}
