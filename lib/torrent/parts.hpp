// The snapshot torrent from per-file parts (docs/design.md, "Torrents").
//
// A BitTorrent v2 info dict holds, per file, only its length and the root of
// its piece-hash tree, and libtorrent lays files out in a canonical order
// (sorted paths, each file padded to a piece boundary). So a snapshot's
// torrent is a function of (commit, [(path, size, piece layer)]) alone:
// `assemble()` builds it from parts that may have been hashed on different
// machines (the cold-start cohort), and `llmpt create-torrent` makes its
// torrent the same way, from parts it hashes itself. One code path, one
// info hash by construction.
//
// No file attributes are ever set: model files are data, never executable,
// whatever the snapshot's symlinks (mode 0777) say.
#pragma once

#include <llmpt/error.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace llmpt::torrent {

using Sha256Digest = std::array<unsigned char, 32>;
using Sha1Digest = std::array<unsigned char, 20>;

constexpr std::uint64_t kBlockSize = 16 * 1024; // BEP 52 leaf size

// What a torrent needs of one file.
struct FilePart {
    std::string path;     // in the snapshot ("sub/model.safetensors")
    std::uint64_t size = 0;
    // v2: per piece of the file, the root of the tree of its 16 KiB blocks
    // (the last piece padded with zero leaves to a full piece). A file of at
    // most one piece has one hash, its root, whose tree is only as wide as
    // its blocks need; an empty file has none.
    std::vector<Sha256Digest> pieces;
    // Hybrid torrents only: SHA-1 of each piece, the last one padded with
    // zeros to the piece length (libtorrent pads every file to a piece
    // boundary, but for the only file of a one-file torrent).
    std::vector<Sha1Digest> v1_pieces;
};

// How many pieces of `piece_length` a file of `size` bytes spans.
std::uint64_t pieces_in(std::uint64_t size, std::uint64_t piece_length);

// How to hash a file's pieces. Pieces are independent: `first`/`count`
// hash a range of them (to spread one large file over threads, or a file
// over machines); `count` 0 means to the end.
struct PieceHashing {
    std::uint64_t piece_length = 0;
    std::uint64_t first = 0, count = 0;
    std::vector<Sha1Digest>* v1 = nullptr; // non-null: v1 hashes too, appended here
    bool v1_pad_tail = true;               // false for the only file of a one-file torrent
    const std::atomic<bool>* cancel = nullptr;
    std::atomic<std::uint64_t>* hashed = nullptr; // bytes hashed, added as they are
};
// The v2 piece hashes of `size` bytes of `file` (FilePart::pieces, or the
// range of them asked for).
Result<std::vector<Sha256Digest>> hash_pieces(const std::filesystem::path& file, std::uint64_t size,
                                              const PieceHashing& how);

// The BEP 52 pieces root of a part (all zeros for an empty file).
Sha256Digest pieces_root(const FilePart& part, std::uint64_t piece_length);

// Checks a part's shape: the number of hashes its size needs (errc::usage
// naming the path otherwise).
Status check_part(const FilePart& part, std::uint64_t piece_length, bool v1);

struct AssembleOptions {
    std::string tracker; // base URL; the torrent announces to {tracker}/announce
    bool hybrid = false; // every part must then carry v1_pieces
};

// The snapshot torrent of `commit`: name = commit, piece length from the
// table, libtorrent's canonical file order, no attributes, no creation date.
Result<std::string> assemble(const std::string& commit, const std::vector<FilePart>& parts,
                             const AssembleOptions& options = {});

// Hashes every file of a snapshot folder (`files`: path -> size) and
// assembles its torrent, spreading pieces over `threads` workers.
// `on_progress(hashed, total)` runs on the calling thread.
struct SnapshotSource {
    std::filesystem::path dir; // {path} resolves to dir / path
    std::vector<std::pair<std::string, std::uint64_t>> files;
};
Result<std::string> make_snapshot_torrent(const std::string& commit, const SnapshotSource& source,
                                          const AssembleOptions& options, int threads,
                                          const std::function<void(std::uint64_t, std::uint64_t)>& on_progress = {},
                                          const std::atomic<bool>* cancel = nullptr);

} // namespace llmpt::torrent
