// cache/: the HuggingFace cache layout (docs/design.md, "Cache layout"), exactly as
// huggingface_hub reads and writes it: blobs/, snapshots/, refs/, .locks/,
// .no_exist/, CACHEDIR.TAG, and the --local-dir metadata files.
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace llmpt::cache {

namespace fs = std::filesystem;

// "../../blobs/{etag}" with one more "../" per folder level of `path`.
std::string blob_link_target(const std::string& path, const Etag& etag);

class RepoCache {
public:
    RepoCache(fs::path root, RepoRef repo);

    const fs::path& root() const { return root_; }
    const RepoRef& repo() const { return repo_; }
    fs::path repo_dir() const { return root_ / repo_.folder_name(); }
    fs::path blob_path(const Etag& e) const { return repo_dir() / "blobs" / e.str(); }
    fs::path snapshot_dir(const CommitId& c) const { return repo_dir() / "snapshots" / c.str(); }
    fs::path ref_path(const std::string& revision) const { return repo_dir() / "refs" / revision; }
    fs::path lock_dir() const { return root_ / ".locks" / repo_.folder_name(); }
    fs::path lock_path(const Etag& e) const { return lock_dir() / (e.str() + ".lock"); }
    // P2P staging: {commit}/{path}, the files libtorrent writes before they
    // are verified. A verified file leaves it (renamed to its blob), so it
    // holds only partial downloads. A dot-folder in the repo folder, which
    // scan_cache_dir does not report.
    fs::path staging_dir() const { return repo_dir() / ".llmpt" / "staging"; }
    // The snapshot torrent kept for seeding (made here, or the tracker's).
    fs::path torrent_path(const CommitId& c, bool hybrid) const {
        return repo_dir() / ".llmpt" / "torrents" / (c.str() + (hybrid ? ".hybrid" : ".v2") + ".torrent");
    }
    fs::path no_exist_path(const CommitId& c, const std::string& path) const {
        return repo_dir() / ".no_exist" / c.str() / path;
    }

    // Creates the root (with CACHEDIR.TAG), blobs/, snapshots/, refs/, .locks/.
    Status ensure_layout() const;
    // True when blobs/{etag} exists as a regular file of `size` bytes.
    bool has_blob(const Etag& e, std::uint64_t size) const;
    // snapshots/{commit}/{path} -> ../../blobs/{etag}, replaced atomically.
    Status link_snapshot(const CommitId& c, const std::string& path, const Etag& e) const;
    // True when snapshots/{commit}/{path} is our symlink to an existing blob.
    bool snapshot_has(const CommitId& c, const std::string& path) const;
    // refs/{revision} = commit, no trailing newline, temp file + rename.
    Status write_ref(const std::string& revision, const CommitId& c) const;
    std::optional<CommitId> read_ref(const std::string& revision) const;
    // A revision that is a commit with a snapshot, or a ref to one.
    std::optional<CommitId> resolve_offline(const std::string& revision) const;
    Status mark_no_exist(const CommitId& c, const std::string& path) const;
    // path -> etag for every file of a snapshot, refusing anything that is
    // not a link to ../blobs/{etag} of this repo with the blob present.
    Result<std::map<std::string, Etag>> checked_snapshot_files(const CommitId& c) const;
    // path -> etag for every file of a snapshot (from the symlinks).
    Result<std::map<std::string, Etag>> snapshot_files(const CommitId& c) const;
    // Calls `entry` with the repo-relative path and the path on disk of every
    // entry of snapshots/{commit} that is not a plain folder, at any depth;
    // stops at the first error it returns. errc::not_found without a snapshot.
    using SnapshotEntry = std::function<Status(const std::string& rel, const fs::path& path)>;
    Status for_each_snapshot_entry(const CommitId& c, const SnapshotEntry& entry) const;

private:
    fs::path root_;
    RepoRef repo_;
};

// The complete file list of a commit, as the Hub gave it. Kept in the repo
// folder's .llmpt/ (which huggingface_hub's scan_cache_dir ignores) so that
// an offline lookup can tell a complete snapshot from a partial one.
struct ManifestEntry {
    std::string path;
    Etag etag;
    std::uint64_t size = 0;
};
Status write_manifest(const RepoCache& cache, const CommitId& c, const std::vector<ManifestEntry>& files);
std::optional<std::vector<ManifestEntry>> read_manifest(const RepoCache& cache, const CommitId& c);

// A revision name is safe as a refs/ path: "main", "v1.0", "refs/pr/1".
bool safe_revision(std::string_view revision);

// flock on a lock file; released by the destructor.
class FileLock {
public:
    // Returns an empty lock (not held) if another process holds it.
    static Result<FileLock> try_lock(const fs::path& path);
    // Waits up to `timeout` for it (errc::failure naming `what` after
    // that), and no longer than `cancel` stays false (errc::interrupted).
    static Result<FileLock> lock(const fs::path& path, std::chrono::seconds timeout, const std::string& what,
                                 const std::atomic<bool>* cancel = nullptr);
    FileLock() = default;
    FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    FileLock& operator=(FileLock&& o) noexcept;
    ~FileLock();
    bool held() const { return fd_ >= 0; }
    int fd() const { return fd_; }

private:
    explicit FileLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

// Drops what staging holds that is another name of a blob (left by an older
// llmpt, which seeded from staging, or by a crash between placing a file and
// the torrent letting go of it), unless a download holds that blob's lock,
// and empty staging folders. Such links would keep a blob's space in use
// after huggingface_hub deletes the blob. Returns the files dropped.
std::size_t sweep_staging(const RepoCache& cache);

// --local-dir mode: D/.cache/huggingface/download/{path}.metadata
fs::path local_dir_meta_dir(const fs::path& local_dir);
Status write_local_dir_metadata(const fs::path& local_dir, const std::string& path,
                                const CommitId& commit, const Etag& etag);
// The metadata, if it exists and names this commit's etag for the file.
bool local_dir_file_current(const fs::path& local_dir, const std::string& path, const Etag& etag,
                            std::uint64_t size);

} // namespace llmpt::cache
