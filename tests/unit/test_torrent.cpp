#include <catch2/catch.hpp>

#include "torrent/inspect.hpp"
#include "util/base64.hpp"
#include "util/fd.hpp"

#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/torrent_info.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

using namespace llmpt;
namespace fs = std::filesystem;

namespace {
// A v2 torrent of a temp folder named like a commit (libtorrent's own creator).
std::string make_torrent(const fs::path& dir, int piece_length, lt::create_flags_t flags = lt::create_torrent::v2_only) {
    lt::file_storage files;
    lt::add_files(files, dir.string());
    lt::create_torrent t(files, piece_length, flags);
    lt::set_piece_hashes(t, dir.parent_path().string());
    std::string out;
    lt::bencode(std::back_inserter(out), t.generate());
    return out;
}
} // namespace

TEST_CASE("piece length table") {
    CHECK(torrent::piece_length_for(0) == 256 * 1024);
    CHECK(torrent::piece_length_for((100ull << 20) - 1) == 256 * 1024);
    CHECK(torrent::piece_length_for(100ull << 20) == 1 << 20);
    CHECK(torrent::piece_length_for(5ull << 30) == 4 << 20);
    CHECK(torrent::piece_length_for(50ull << 30) == 16 << 20);
    CHECK(torrent::piece_length_for(500ull << 30) == 32 << 20);
    CHECK(torrent::piece_length_for(2ull << 40) == 64 << 20);
}

TEST_CASE("inspect and check a snapshot torrent") {
    const std::string commit(40, 'a');
    const auto root = fs::temp_directory_path() / ("llmpt-unit-" + util::random_hex8());
    const auto dir = root / commit;
    fs::create_directories(dir / "sub");
    std::ofstream(dir / "a.txt") << "hello\n";
    std::ofstream(dir / "sub" / "b.bin") << std::string(70000, 'x');

    const auto data = make_torrent(dir, 256 * 1024);
    auto f = torrent::inspect(data);
    REQUIRE(f);
    CHECK(f->name == commit);
    CHECK(f->info_hash.v2().size() == 64);
    CHECK(f->info_hash.announce_key() == f->info_hash.v2().substr(0, 40));
    CHECK_FALSE(f->info_hash.hybrid());
    CHECK(f->total_size == 6 + 70000);
    REQUIRE(f->files.size() == 2);
    CHECK(torrent::check_snapshot_torrent(*f, commit));
    CHECK(torrent::check_snapshot_torrent(*f, "main").error().message.rfind("name", 0) == 0);

    auto hybrid = torrent::inspect(make_torrent(dir, 256 * 1024, {}));
    REQUIRE(hybrid);
    CHECK(hybrid->info_hash.v1().size() == 40);

    auto wrong_pl = torrent::inspect(make_torrent(dir, 1 << 20));
    REQUIRE(wrong_pl);
    CHECK(torrent::check_snapshot_torrent(*wrong_pl, commit).error().message.rfind("piece_length", 0) == 0);

    CHECK_FALSE(torrent::inspect(make_torrent(dir, 256 * 1024, lt::create_torrent::v1_only)));

    // An executable file (what snapshot symlinks gave older torrents) is refused by name.
    fs::permissions(dir / "a.txt", fs::perms::owner_exec, fs::perm_options::add);
    auto attributed = torrent::inspect(make_torrent(dir, 256 * 1024));
    REQUIRE(attributed);
    CHECK(attributed->attributed == "a.txt");
    const auto refused = torrent::check_snapshot_torrent(*attributed, commit);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("attributes") != std::string::npos);
    CHECK_FALSE(torrent::inspect("garbage"));
    CHECK_FALSE(torrent::inspect(std::string(100, 'l') + std::string(100, 'e'))); // too deep
    torrent::Limits tiny;
    tiny.max_bytes = 10;
    CHECK_FALSE(torrent::inspect(data, tiny));
    fs::remove_all(root);
}

TEST_CASE("base64 round trip and strictness") {
    for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
        CHECK(*util::base64_decode(util::base64_encode(s)) == s);
    CHECK(util::base64_encode("hello") == "aGVsbG8=");
    CHECK_FALSE(util::base64_decode("aGVsbG8"));
    CHECK_FALSE(util::base64_decode("aGV!bG8="));
    CHECK_FALSE(util::base64_decode("aGVs bG8="));
}

TEST_CASE("pieces hashed as the torrent says: what a cohort share may claim") {
    const std::string commit(40, 'c');
    const auto root = fs::temp_directory_path() / ("llmpt-unit-" + util::random_hex8());
    const auto dir = root / commit;
    fs::create_directories(dir);
    const int pl = 256 * 1024;
    std::ofstream(dir / "big.bin") << std::string(3 * pl + 100, 'x'); // four pieces
    std::ofstream(dir / "small.txt") << "hello\n";                     // one piece: its root
    const auto data = make_torrent(dir, pl);
    lt::error_code ec;
    const lt::torrent_info ti(data.data(), static_cast<int>(data.size()), ec);
    REQUIRE_FALSE(ec);
    const auto index = torrent::snapshot_files(ti);
    const auto first = [&](const std::string& p) { return static_cast<int>(ti.files().map_file(index.at(p), 0, 0).piece); };
    const auto hash_of = [&](const std::string& p, std::uint64_t i) {
        std::array<unsigned char, 32> h{};
        std::memcpy(h.data(), ti.piece_layer(index.at(p)).data() + i * 32, 32);
        return h;
    };

    std::map<std::string, std::map<std::uint64_t, std::array<unsigned char, 32>>> hashed;
    hashed["big.bin"][1] = hash_of("big.bin", 1);
    hashed["big.bin"][3] = hash_of("big.bin", 3);
    auto wrong = hash_of("big.bin", 2);
    wrong[0] ^= 1;
    hashed["big.bin"][2] = wrong;                   // not the torrent's: left out
    hashed["big.bin"][9] = hash_of("big.bin", 0);   // past the file: left out
    hashed["small.txt"][0] = hash_of("small.txt", 0);
    hashed["elsewhere.bin"][0] = hash_of("big.bin", 0); // not in the torrent
    const auto got = torrent::pieces_hashed_as(ti, hashed);
    std::vector<int> want{first("big.bin") + 1, first("big.bin") + 3, first("small.txt")};
    std::sort(want.begin(), want.end());
    CHECK(got == want);
    CHECK(torrent::pieces_hashed_as(ti, {}).empty());
    fs::remove_all(root);
}
