// The Hub's hash of a file taken as its pieces are checked by the disk back
// end (p2p/disk_io.hpp), from the buffer the piece check just read: the
// digest is ready when the last piece passes, without reading the file again
// when the pieces come in file order.
//
// Blocks are hashed in file order by whichever checker finds the next one.
// Blocks that arrive early leave only a mark, and the hasher reads them back
// from the file (the page cache: they were just written) when their turn
// comes. Copies were kept before: in a swarm, where pieces come in any order,
// their fresh pages cost a page fault per 4 KiB, a fifth of a download's CPU
// (bench/README.md). If a byte already hashed is written again (a piece that
// failed its check and is fetched anew), the stream is lost and the caller
// reads the whole file back instead.
#pragma once

#include "util/fd.hpp"
#include "util/hash.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace llmpt::p2p {

class StreamHash {
public:
    StreamHash(std::filesystem::path file, util::Hasher hasher, std::uint64_t size);

    // Bytes [offset, offset + len) of the file, as written.
    void absorb(std::uint64_t offset, const char* data, std::size_t len);
    // Bytes [from, to) will be written again.
    void rewrite(std::uint64_t from, std::uint64_t to);
    // Stop following (frees what waits).
    void abandon();

    // Once every byte was written: the hex digest, or nullopt if the stream
    // was lost (or is not done within `wait`).
    std::optional<std::string> digest(std::chrono::milliseconds wait);

private:
    void drain(std::unique_lock<std::mutex>& lk);
    bool hash_back(std::uint64_t at, std::size_t len);
    void lose();

    const std::filesystem::path file_;
    util::UniqueFd fd_;      // for hash_back; used by the hashing thread only
    std::vector<char> back_; // hash_back's buffer; likewise
    std::mutex mu_;
    std::condition_variable done_;
    util::Hasher hasher_;
    const std::uint64_t size_;
    std::uint64_t claimed_ = 0;               // bytes taken for hashing, in order
    std::uint64_t hashed_ = 0;                // of those, hashed
    std::map<std::uint64_t, std::size_t> waiting_; // offset → length of a block written early
    bool busy_ = false;                       // a thread is hashing
    bool lost_ = false;
};

// The stream hashes of torrents about to be added to a session, handed from
// Session::add() to its disk back end (which takes them when libtorrent
// creates the torrent's storage), keyed by the torrent's 20-byte hash as
// libtorrent names storages. One per session; nothing process-wide.
class StreamRegistry {
public:
    using Streams = std::vector<std::shared_ptr<StreamHash>>; // by file index; null: none
    void put(const std::string& key20, Streams streams);
    // The streams of a new storage, once; empty if none were put.
    Streams take(const std::string& key20);
    void drop(const std::string& key20);

private:
    std::mutex mu_;
    std::map<std::string, Streams> pending_;
};

} // namespace llmpt::p2p
