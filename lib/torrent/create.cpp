// create_torrent(): the deterministic snapshot torrent (docs/design.md,
// "Torrents"), hashed from the snapshot's blobs and assembled from per-file
// parts exactly as a cold-start cohort assembles it (torrent/parts.hpp).
#include <llmpt/torrent.hpp>

#include "cache/layout.hpp"
#include "torrent/inspect.hpp"
#include "torrent/parts.hpp"

#include <thread>

namespace llmpt {

namespace fs = std::filesystem;

Result<CreatedTorrent> create_torrent(const CreateTorrentRequest& req,
                                      const std::function<void(std::uint64_t, std::uint64_t)>& on_progress) {
    auto id = RepoId::parse(req.repo);
    if (!id) return id.error();
    const cache::RepoCache cache(req.cache_dir, RepoRef{req.repo_type, *id});
    const auto commit = cache.resolve_offline(req.revision);
    if (!commit)
        return Error(errc::not_found, req.repo + "@" + req.revision + " is not in the cache at " +
                                          req.cache_dir.string());
    auto files = cache.checked_snapshot_files(*commit);
    if (!files) return files.error();
    if (files->empty()) return Error(errc::not_found, "the snapshot has no files", commit->str());

    // The snapshot's links were checked to point at this repo's blobs; their
    // sizes are the files' sizes.
    torrent::SnapshotSource named;
    for (const auto& [path, etag] : *files) {
        std::error_code ec;
        const auto size = fs::file_size(cache.blob_path(etag), ec);
        if (ec) return Error(errc::integrity, "cannot read the blob of " + path, cache.blob_path(etag).string());
        named.files.emplace_back(path, size);
    }
    named.dir = cache.snapshot_dir(*commit);
    const int threads = req.threads > 0 ? req.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    torrent::AssembleOptions ao;
    ao.tracker = req.tracker;
    ao.hybrid = req.hybrid;
    auto data = torrent::make_snapshot_torrent(commit->str(), named, ao, threads, on_progress);
    if (!data) return data.error();

    auto facts = torrent::inspect(*data, torrent::Limits{1u << 30, 64, 100000000, 100000000});
    if (!facts) return facts.error();
    CreatedTorrent out{.commit = *commit, .info_hash = facts->info_hash};
    out.data = std::move(*data);
    out.total_size = facts->total_size;
    out.piece_length = facts->piece_length;
    out.files = facts->files.size();
    return out;
}

} // namespace llmpt
