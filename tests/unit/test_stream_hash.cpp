#include <catch2/catch.hpp>

#include "p2p/stream_hash.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

using namespace llmpt;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t kBlock = 16384;

// A file of `blocks` random blocks on disk (what the disk back end wrote),
// and its sha256.
struct Written {
    fs::path path;
    std::string bytes;
    std::string sha256;

    explicit Written(std::size_t blocks) {
        path = fs::temp_directory_path() / ("llmpt-stream-hash-" + util::random_hex8());
        std::mt19937 rng(42);
        bytes.resize(blocks * kBlock);
        for (auto& c : bytes) c = static_cast<char>(rng());
        std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        sha256 = util::sha256_hex(bytes);
    }
    ~Written() { fs::remove(path); }

    p2p::StreamHash stream() const {
        return p2p::StreamHash(path, util::Hasher(util::Hasher::Algo::sha256), bytes.size());
    }
    void give(p2p::StreamHash& s, std::size_t block) const {
        s.absorb(block * kBlock, bytes.data() + block * kBlock, kBlock);
    }
};

} // namespace

TEST_CASE("a stream hash of in-order writes is the file's hash") {
    Written w(8);
    auto s = w.stream();
    for (std::size_t i = 0; i < 8; ++i) w.give(s, i);
    CHECK(s.digest(milliseconds(1000)) == w.sha256);
}

TEST_CASE("out-of-order writes wait as marks and are read back from the file") {
    Written w(16);
    auto s = w.stream();
    for (std::size_t i = 16; i-- > 0;) w.give(s, i); // last block first
    CHECK(s.digest(milliseconds(1000)) == w.sha256);
}

TEST_CASE("a waiting block is hashed from the file, not from the buffer it came in") {
    // What counts is what is on disk: a block the file lost after it was
    // written early changes the digest.
    Written w(4);
    auto s = w.stream();
    w.give(s, 2);
    w.give(s, 3);
    {
        auto fd = util::open_fd(w.path, O_WRONLY);
        REQUIRE(fd);
        const char zero[1] = {0};
        REQUIRE(::pwrite(fd->get(), zero, 1, 3 * kBlock) == 1);
    }
    w.give(s, 0);
    w.give(s, 1);
    const auto got = s.digest(milliseconds(1000));
    REQUIRE(got);
    CHECK(*got != w.sha256);
}

TEST_CASE("writes from several threads hash in file order") {
    Written w(256);
    auto s = w.stream();
    std::vector<std::thread> writers;
    for (std::size_t t = 0; t < 4; ++t)
        writers.emplace_back([&, t] {
            for (std::size_t i = t; i < 256; i += 4) w.give(s, i);
        });
    for (auto& th : writers) th.join();
    CHECK(s.digest(milliseconds(5000)) == w.sha256);
}

TEST_CASE("a stream is lost when hashed bytes are written again, not when waiting ones are") {
    Written w(4);
    {
        auto s = w.stream();
        w.give(s, 0);
        w.give(s, 1);
        s.rewrite(0, kBlock); // a failed piece over bytes already hashed
        w.give(s, 2);
        w.give(s, 3);
        CHECK_FALSE(s.digest(milliseconds(1000)));
    }
    {
        auto s = w.stream();
        w.give(s, 0);
        w.give(s, 3);              // early: waits
        s.rewrite(3 * kBlock, 4 * kBlock); // dropped, to be written again
        w.give(s, 1);
        w.give(s, 2);
        w.give(s, 3);
        CHECK(s.digest(milliseconds(1000)) == w.sha256);
    }
    {
        auto s = w.stream();
        w.give(s, 0);
        w.give(s, 0); // the same bytes twice: what was hashed may not be what is on disk
        CHECK_FALSE(s.digest(milliseconds(1000)));
    }
}

TEST_CASE("a stream missing bytes has no digest; an abandoned one neither") {
    Written w(4);
    auto s = w.stream();
    w.give(s, 0);
    w.give(s, 2);
    CHECK_FALSE(s.digest(milliseconds(50)));
    auto t = w.stream();
    w.give(t, 0);
    t.abandon();
    w.give(t, 1);
    w.give(t, 2);
    w.give(t, 3);
    CHECK_FALSE(t.digest(milliseconds(50)));
}
