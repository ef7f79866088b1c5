// torrent/: what llmpt needs to know about .torrent files. inspect() decodes
// a torrent with hard limits (size, depth, tokens, pieces) through
// libtorrent and reports the facts both the tracker and its clients check;
// check_snapshot_torrent() applies the snapshot rules (docs/design.md, "Torrents") to them.
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>

#include <libtorrent/fwd.hpp>
#include <libtorrent/units.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmpt::hub {
struct RemoteFile;
}

namespace llmpt::torrent {

struct FileFact {
    std::string path; // relative to the torrent's root folder (the commit)
    std::uint64_t size = 0;
};

struct TorrentFacts {
    std::string name;
    InfoHash info_hash;
    std::uint64_t piece_length = 0;
    std::uint64_t total_size = 0;   // pad files excluded
    std::vector<FileFact> files{};  // pad files excluded, in torrent order
    bool has_symlinks = false;
    std::string attributed{};         // the first file with an attribute (x, h), if any
};

struct Limits {
    std::size_t max_bytes = 16u << 20;
    int max_depth = 64;
    int max_tokens = 2000000;
    int max_pieces = 4000000;
};

// Decodes and hashes; a malformed torrent is errc::usage naming what was wrong.
Result<TorrentFacts> inspect(std::string_view bytes, const Limits& limits = {});

// The piece length (docs/design.md, "Torrents") for a snapshot of `total` bytes.
std::uint64_t piece_length_for(std::uint64_t total);

// The save path under which libtorrent puts a snapshot torrent's files at
// {staging}/{commit}/{path}: `staging` itself, unless libtorrent reads `ti`
// as a single-file torrent (a v2 torrent of one file), whose file path has
// no root folder.
std::string storage_path(const lt::torrent_info& ti, const std::filesystem::path& staging, const std::string& commit);

// `ti`'s files (pad files left out) by their path in the snapshot: the path
// in the torrent without its root folder (a single-file torrent has none).
std::map<std::string, lt::file_index_t> snapshot_files(const lt::torrent_info& ti);

// The pieces of `ti` (torrent-wide indices, ascending) whose v2 hash is the
// one given: `hashed` holds, per snapshot path, hashes by piece index in the
// file (a file of one piece: its root). What a process that hashed those
// bytes itself may hand libtorrent as had; a hash that differs, a path or a
// piece the torrent does not have are left out.
std::vector<int> pieces_hashed_as(const lt::torrent_info& ti,
                                  const std::map<std::string, std::map<std::uint64_t, std::array<unsigned char, 32>>>& hashed);

// Rules for a snapshot torrent: v2, name == 40-hex commit == revision, piece
// length from the table, safe unique paths, no symlinks, no file attributes
// (torrents made before that rule marked every file executable). The error
// message names the field that is wrong.
Status check_snapshot_torrent(const TorrentFacts& t, const std::string& revision);

// Why a torrent's files are not exactly the Hub's (same paths, same sizes,
// nothing missing, nothing extra), if they are not.
std::optional<std::string> differs_from_hub(const std::vector<FileFact>& files,
                                            const std::vector<hub::RemoteFile>& hub_files);

} // namespace llmpt::torrent
