// Deterministic torrents of cached snapshots (docs/design.md, "Torrents"): every machine that
// holds a snapshot makes the same info hash, so they all join one swarm.
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace llmpt {

struct CreateTorrentRequest {
    std::string repo;
    RepoType repo_type = RepoType::model;
    std::string revision = "main";
    std::filesystem::path cache_dir;
    bool hybrid = false;       // add v1 hashes for v1-only clients
    std::string tracker;       // base URL; the torrent announces to {tracker}/announce
    int threads = 0;           // hashing threads; 0: one per core
};

struct CreatedTorrent {
    CommitId commit;           // the torrent's name
    InfoHash info_hash;        // v1 too when hybrid
    std::uint64_t total_size = 0;
    std::uint64_t piece_length = 0;
    std::size_t files = 0;
    std::string data{};        // the .torrent bytes
};

// Hashes the snapshot's files (through their blobs; every entry must be a
// symlink to ../blobs/{etag} of the same repo). `on_progress(done, total)`
// is called with hashed bytes.
Result<CreatedTorrent> create_torrent(const CreateTorrentRequest& request,
                                      const std::function<void(std::uint64_t, std::uint64_t)>& on_progress = {});

} // namespace llmpt
