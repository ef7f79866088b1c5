// Where a download's files end up: the cache (blobs/ + snapshots/, docs/design.md)
// or a --local-dir (plain files + .cache/huggingface/download metadata).
// The P2P path stages files next to their destination (same file system, so
// a verified file is linked into place, never copied), and hands partial
// files to HTTP at the spot the HTTP fetcher resumes from.
#pragma once

#include "cache/layout.hpp"
#include "download/plan.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace llmpt::fetch {

namespace fs = std::filesystem;

// A file's HTTP temp file ({tmp_dir}/{tmp_stem}.{8hex}.incomplete) and its
// resume journal: FetchTarget's fields, shared with the P2P hand-over.
struct ResumeSpot {
    fs::path tmp_dir;
    std::string tmp_stem;
    fs::path journal;
};

using ReadyFn = std::function<void(const std::string& path, const fs::path& local, std::uint64_t size)>;

class Destination {
public:
    virtual ~Destination() = default;
    // The commit's staging tree is staging_root() / {commit}.
    virtual fs::path staging_root() const = 0;
    // flock'ed by whoever writes the file.
    virtual fs::path lock_path(const Wanted& w) const = 0;
    virtual ResumeSpot resume_spot(const Wanted& w) const = 0;
    // `file` holds exactly the Hub's bytes of `w`: put it in place and call
    // `ready` for each of its paths. A staged file is linked (staging keeps
    // its link), a fetched temp file moved; either is copied where the file
    // system cannot link or move it there.
    enum class From { staging, fetcher };
    virtual Status place(const Wanted& w, const fs::path& file, From from, const ReadyFn& ready) const = 0;
    // Where place() put `w`'s bytes (the blob, or the first of its paths in
    // a local dir): a torrent goes on seeding from there, and staging keeps
    // no link of its own, so deleting the blob frees its space.
    virtual fs::path placed_path(const Wanted& w) const = 0;
    // Keeps the torrent the files came with, for seeding them later (the
    // cache does; a local dir is not seeded).
    virtual void keep_torrent(const std::string& data, bool hybrid) const = 0;
};

std::unique_ptr<Destination> cache_destination(const cache::RepoCache& cache, const CommitId& commit);
std::unique_ptr<Destination> local_dir_destination(const fs::path& dir, const CommitId& commit);

} // namespace llmpt::fetch
