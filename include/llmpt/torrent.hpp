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
    std::string commit;        // the torrent's name
    std::string info_hash;     // v2, 64 hex
    std::string info_hash_v1;  // 40 hex, hybrid only
    std::string announce_key;  // first 20 bytes of the v2 hash, 40 hex
    std::uint64_t total_size = 0;
    std::uint64_t piece_length = 0;
    std::size_t files = 0;
    std::string data;          // the .torrent bytes
};

// Hashes the snapshot's files (through their blobs; every entry must be a
// symlink to ../blobs/{etag} of the same repo). `on_progress(done, total)`
// is called with hashed bytes.
Result<CreatedTorrent> create_torrent(const CreateTorrentRequest& request,
                                      const std::function<void(std::uint64_t, std::uint64_t)>& on_progress = {});

} // namespace llmpt
