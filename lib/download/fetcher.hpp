// download/: getting the bytes of a snapshot and placing them in the cache.
//
// Fetcher: HTTP transfers of whole files into temp files, verified while the
// bytes arrive. Large files are split into ranged chunks fetched in parallel
// by a fixed set of worker threads; a hash "watermark" follows the contiguous
// prefix, so the final digest is ready when the last byte lands. Progress is
// journaled so that a killed process resumes where it stopped.
#pragma once

#include "http/retry.hpp"

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>
#include <llmpt/settings.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <optional>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace llmpt::fetch {

namespace fs = std::filesystem;

struct FetchTarget {
    std::string path;      // repo-relative: for messages and progress
    std::string url;
    std::uint64_t size = 0;
    Etag etag;
    fs::path tmp_dir;      // the .incomplete file is created here
    std::string tmp_stem;  // tmp = tmp_dir/{tmp_stem}.{8hex}.incomplete
    fs::path journal;      // resume journal (removed when the file is done)
};

// Called on a worker thread once the temp file holds exactly the expected
// bytes. The callback moves the file into place; an error it returns fails
// the whole fetch.
using PlaceFn = std::function<Status(const FetchTarget&, const fs::path& verified_tmp)>;
using WarnFn = std::function<void(const std::string&)>;

struct FetchStats {
    std::atomic<std::uint64_t> fetched{0}; // bytes received over HTTP in this run
    std::atomic<std::uint64_t> resumed{0}; // bytes found in temp files from earlier runs
};

// The resume journal of a temp file: which bytes of each chunk of
// `chunk_size` are already in `tmp_name` (a file next to the blob). Written
// by the fetcher as it goes, and by the P2P path when it hands a partial
// file over to HTTP.
std::string resume_journal(std::uint64_t size, std::uint64_t chunk_size, const std::string& tmp_name,
                           const std::vector<std::uint64_t>& done);

// A journal read back: nullopt unless it is well formed, for a file of
// `size` bytes, with a line for every chunk.
struct JournalState {
    std::uint64_t chunk_size = 0;
    std::string tmp_name;
    std::vector<std::uint64_t> done;
};
std::optional<JournalState> parse_journal(std::string_view text, std::uint64_t size);

// What the status and headers of a chunk's answer say, before its body:
// take the body; judge it after the transfer (a status >= 300); the server
// ignored our Range (200 to a ranged request: the file starts over whole);
// or refuse it (a Content-Range or size that is not the Hub's file).
struct HeadersVerdict {
    enum class Kind { take_body, judge_after, range_ignored, refuse };
    Kind kind = Kind::take_body;
    std::optional<Error> error; // refuse
};
HeadersVerdict judge_headers(const FetchTarget& t, std::uint64_t start, bool ranged, int status,
                             const http::Headers& headers);

// How an attempt ended whose bytes were all taken: the chunk is complete;
// an answer that ends the file (404, 401/403, another non-retryable status,
// cancellation: `error` says which); or worth another try (a transport
// error, a retryable status, a short body).
struct AttemptVerdict {
    enum class Kind { complete, refused, retry };
    Kind kind = Kind::retry;
    std::optional<Error> error; // refused
};
AttemptVerdict judge_attempt(const FetchTarget& t, const Result<http::Response>& answer, bool chunk_complete);

// Whether an attempt that gained `gained` bytes of a chunk that lacked
// `missing` made real progress (resets the failure count): a MiB, or the
// rest of the chunk. A trickle aborted for stalling does not.
bool real_progress(std::uint64_t gained, std::uint64_t missing);

class Fetcher {
public:
    Fetcher(const Settings& settings, std::vector<std::string> headers,
            const std::atomic<bool>* cancel, WarnFn warn);
    ~Fetcher();

    void add(FetchTarget target, PlaceFn place);
    // Runs every added file to completion, calling `tick` on this thread
    // about 5 times a second. On the first fatal error the other transfers
    // stop and that error is returned. Temp files are kept for a resume
    // unless the error was a disk or integrity failure.
    Status run(const std::function<void()>& tick);

    const FetchStats& stats() const { return stats_; }
    std::vector<std::string> active() const;

    // Told, as the hash follows a file, how long its hashed prefix is and
    // which temp file holds it (llmpt::FileWatch::progress). Set before run().
    using HashedFn = std::function<void(const std::string& path, const fs::path& tmp, std::uint64_t prefix)>;
    void on_hashed(HashedFn fn) { on_hashed_ = std::move(fn); }

    struct File; // per-file state, fetcher.cpp

private:
    struct Task {
        File* file = nullptr;
        std::size_t chunk = 0;
        std::uint64_t generation = 0;
    };
    enum class ChunkEnd { done, stale, restart, failed };

    Status open_file(File& f);
    void start_generation(File& f, bool ranges);
    bool next_task(Task& out);
    void work(std::size_t slot);
    ChunkEnd fetch_chunk(const Task& t, std::size_t slot);
    // fetch_chunk's parts: the body's bytes into the temp file and journal;
    // a refused answer (one more try from scratch for wrong bytes); a server
    // that ignores Range; the wait before another attempt.
    bool write_body(const Task& t, const char* data, std::size_t n, std::optional<Error>& fatal);
    ChunkEnd refused(const Task& t, Error e);
    ChunkEnd range_ignored(const Task& t);
    bool wait_before_retry(const Task& t, int failures, const Result<http::Response>& answer);
    void advance_hash(File& f);
    void finalize(File& f); // with f.hash_mu held
    void restart(File& f, bool ranges); // with f.hash_mu held
    void file_finished();
    void fail(Error e);
    void remove_temp(File& f);

    Settings settings_;
    std::vector<std::string> headers_;
    const std::atomic<bool>* cancel_;
    std::atomic<bool> stop_{false};
    WarnFn warn_;
    HashedFn on_hashed_;
    FetchStats stats_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<File>> files_;
    std::deque<Task> queue_;
    std::size_t files_left_ = 0;
    std::optional<Error> error_;
    std::vector<std::string> active_;
};

} // namespace llmpt::fetch
