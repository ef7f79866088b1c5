#include <catch2/catch.hpp>

#include "temp_dir.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"
#include "util/multi_hash.hpp"
#include "util/url.hpp"

#include <array>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using namespace llmpt;

TEST_CASE("sha256 and git blob sha1 match the reference values") {
    CHECK(util::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // `printf 'hello\n' | git hash-object --stdin`
    CHECK(util::git_blob_sha1_hex("hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a");
    CHECK(util::git_blob_sha1_hex("") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

TEST_CASE("incremental hashing equals one-shot hashing") {
    auto h = util::hasher_for(Etag::Kind::git_sha1, 6);
    h.update("hel");
    h.update("lo\n");
    CHECK(h.hex_digest() == util::git_blob_sha1_hex("hello\n"));
}

TEST_CASE("a copied hasher goes on from the same state, independently of the original") {
    auto h = util::hasher_for(Etag::Kind::sha256, 0);
    h.update("hel");
    auto c = h;
    c.update("lo\n");
    h.update("p");
    CHECK(c.hex_digest() == util::sha256_hex("hello\n"));
    CHECK(h.hex_digest() == util::sha256_hex("help"));
}

TEST_CASE("url encoding round-trips and rejects bad escapes") {
    CHECK(util::url_encode("refs/pr/1") == "refs%2Fpr%2F1");
    CHECK(util::url_encode_path("a b/c.txt") == "a%20b/c.txt");
    CHECK(*util::url_decode("refs%2Fpr%2F1") == "refs/pr/1");
    CHECK(*util::url_decode("%2e%2E") == "..");
    CHECK_FALSE(util::url_decode("%zz"));
    CHECK_FALSE(util::url_decode("abc%2"));
}

TEST_CASE("hashing many messages side by side equals hashing each alone") {
    // Lengths around SHA-256's 64-byte block and its 56-byte padding limit,
    // a v2 block, a short last block, and enough messages to fill every lane.
    const std::vector<std::size_t> lengths = {0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 16384, 16383, 5 * 16384 + 7};
    std::mt19937 rng(7);
    std::vector<std::string> messages;
    for (int round = 0; round < 3; ++round)
        for (const auto len : lengths) {
            std::string m(len, '\0');
            for (auto& c : m) c = static_cast<char>(rng());
            messages.push_back(std::move(m));
        }
    std::vector<std::array<unsigned char, 32>> digests(messages.size());
    std::vector<util::Sha256Job> jobs;
    for (std::size_t i = 0; i < messages.size(); ++i)
        jobs.push_back({messages[i].data(), messages[i].size(), digests[i].data()});
    util::sha256_each(jobs);
    INFO("engine: " << util::sha256_each_engine());
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const std::string got(reinterpret_cast<const char*>(digests[i].data()), 32);
        CHECK(util::to_hex(got) == util::sha256_hex(messages[i]));
    }
    // One message, and none.
    std::array<unsigned char, 32> one{};
    const util::Sha256Job single{"abc", 3, one.data()};
    util::sha256_each({&single, 1});
    CHECK(util::to_hex(std::string(reinterpret_cast<const char*>(one.data()), 32)) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    util::sha256_each({});
}

TEST_CASE("hash_range hashes a file's bytes in steps, stops when told, and says when the file is short") {
    test::TempDir dir;
    const auto path = dir.path / "f";
    std::string data(3 << 20, '\0');
    std::mt19937 rng(7);
    for (auto& c : data) c = static_cast<char>(rng());
    std::ofstream(path, std::ios::binary) << data;
    auto fd = util::open_fd(path, O_RDONLY);
    REQUIRE(fd);

    util::Hasher h(util::Hasher::Algo::sha256);
    std::uint64_t at = 0;
    REQUIRE(util::hash_range(fd->get(), h, at, 1000, "f"));
    CHECK(at == 1000);
    REQUIRE(util::hash_range(fd->get(), h, at, data.size(), "f"));
    CHECK(at == data.size());
    CHECK(h.hex_digest() == util::sha256_hex(data));

    std::atomic<bool> stop{true};
    util::Hasher stopped(util::Hasher::Algo::sha256);
    at = 0;
    CHECK(util::hash_range(fd->get(), stopped, at, data.size(), "f", &stop));
    CHECK(at == 0);

    util::Hasher past(util::Hasher::Algo::sha256);
    at = data.size() - 10;
    const auto st = util::hash_range(fd->get(), past, at, data.size() + 5, "f");
    REQUIRE_FALSE(st);
    CHECK(at == data.size()); // what was there was hashed
    CHECK(st.error().context == "f");
}
