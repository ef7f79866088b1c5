#include "download/destination.hpp"

#include "util/fd.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace llmpt::fetch {

namespace {

// Puts `file` at `to` through a temp name in `to`'s folder, so `to` never
// exists half made and an old `to` is replaced atomically: linked (staging
// keeps its link) or moved (the fetcher's temp file), and copied where the
// file system cannot link, or `to` is on another one.
Status put(const fs::path& file, const fs::path& to, Destination::From from) {
    std::error_code ec;
    fs::create_directories(to.parent_path(), ec);
    if (ec) return util::errno_error(ec.value(), "cannot create folder", to.parent_path().string());
    const bool move = from == Destination::From::fetcher;
    if (move) {
        if (::rename(file.c_str(), to.c_str()) == 0) return ok();
        if (errno != EXDEV) return util::errno_error(errno, "cannot place", to.string());
    }
    const auto tmp = to.string() + "." + util::random_hex8() + ".tmp";
    if (move || ::link(file.c_str(), tmp.c_str()) != 0) {
        const int err = move ? EXDEV : errno;
        if (!util::cannot_link_here(err)) return util::errno_error(err, "cannot link", to.string());
        if (!fs::copy_file(file, tmp, ec)) {
            ::unlink(tmp.c_str());
            return util::errno_error(ec.value(), "cannot copy", to.string());
        }
    }
    if (::rename(tmp.c_str(), to.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return util::errno_error(err, "cannot place", to.string());
    }
    if (move) ::unlink(file.c_str());
    return ok();
}

class CacheDestination final : public Destination {
public:
    CacheDestination(const cache::RepoCache& cache, const CommitId& commit) : cache_(cache), commit_(commit) {}

    fs::path staging_root() const override { return cache_.staging_dir(); }
    fs::path lock_path(const Wanted& w) const override { return cache_.lock_path(w.file.etag); }
    ResumeSpot resume_spot(const Wanted& w) const override {
        const auto etag = w.file.etag.str();
        return {cache_.repo_dir() / "blobs", etag, cache_.lock_dir() / (etag + ".parts")};
    }
    Status place(const Wanted& w, const fs::path& file, From from, const ReadyFn& ready) const override {
        if (from == From::fetcher || !cache_.has_blob(w.file.etag, w.file.size))
            if (auto st = put(file, cache_.blob_path(w.file.etag), from); !st) return st;
        for (const auto& p : w.paths) {
            if (auto st = cache_.link_snapshot(commit_, p, w.file.etag); !st) return st;
            if (ready) ready(p, cache_.snapshot_dir(commit_) / p, w.file.size);
        }
        return ok();
    }
    fs::path placed_path(const Wanted& w) const override { return cache_.blob_path(w.file.etag); }
    void keep_torrent(const std::string& data, bool hybrid) const override {
        const auto path = cache_.torrent_path(commit_, hybrid);
        std::error_code ec;
        fs::create_directories(path.parent_path(), ec);
        (void)util::write_file_atomic(path, data); // best effort: a seeder makes it again
    }

private:
    const cache::RepoCache& cache_;
    const CommitId& commit_;
};

class LocalDirDestination final : public Destination {
public:
    LocalDirDestination(fs::path dir, const CommitId& commit)
        : dir_(std::move(dir)), meta_(cache::local_dir_meta_dir(dir_)), commit_(commit) {}

    // Next to the metadata folder: inside the local dir's file system, and
    // under the .cache folder huggingface_hub already keeps there.
    fs::path staging_root() const override { return meta_.parent_path() / "llmpt-staging"; }
    fs::path lock_path(const Wanted& w) const override { return meta_ / (w.file.path + ".lock"); }
    ResumeSpot resume_spot(const Wanted& w) const override {
        return {(meta_ / w.file.path).parent_path(), fs::path(w.file.path).filename().string(),
                meta_ / (w.file.path + ".parts")};
    }
    Status place(const Wanted& w, const fs::path& file, From from, const ReadyFn& ready) const override {
        for (std::size_t i = 0; i < w.paths.size(); ++i) {
            const auto& p = w.paths[i];
            // A fetched file moves to its first path; the others link to that.
            const bool first = i == 0;
            if (auto st = put(first ? file : dir_ / w.paths[0], dir_ / p, first ? from : From::staging); !st)
                return st;
            if (auto st = cache::write_local_dir_metadata(dir_, p, commit_, w.file.etag); !st) return st;
            if (ready) ready(p, dir_ / p, w.file.size);
        }
        return ok();
    }
    fs::path placed_path(const Wanted& w) const override { return dir_ / w.paths.at(0); }
    void keep_torrent(const std::string&, bool) const override {}

private:
    fs::path dir_, meta_;
    const CommitId& commit_;
};

} // namespace

std::unique_ptr<Destination> cache_destination(const cache::RepoCache& cache, const CommitId& commit) {
    return std::make_unique<CacheDestination>(cache, commit);
}

std::unique_ptr<Destination> local_dir_destination(const fs::path& dir, const CommitId& commit) {
    return std::make_unique<LocalDirDestination>(dir, commit);
}

} // namespace llmpt::fetch
