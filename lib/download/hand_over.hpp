// The P2P -> HTTP hand-over (docs/design.md, "A download"): what the swarm
// did not finish in time goes to the HTTP fetcher without losing a byte.
// A partial staging file is linked as the fetcher's temp file at the
// destination's resume spot, and a resume journal marks the pieces peers
// already delivered (each checked against the torrent's hashes) as done.
// Staging keeps its name for the same inode, so a later run resumes from
// either; once HTTP has placed the file, drop_staged() lets go of it.
#pragma once

#include "download/destination.hpp"

#include <cstdint>
#include <filesystem>
#include <utility>
#include <vector>

namespace llmpt::fetch {

// `have`: for each piece of the file (piece_length bytes, the last one
// shorter), whether it passed its check. Returns the bytes handed over (0:
// nothing to hand over, or the hand-over failed and HTTP starts afresh).
std::uint64_t hand_over(const Destination& dest, const Wanted& w, const std::filesystem::path& staged,
                        std::uint64_t piece_length, const std::vector<bool>& have);

// Unlinks the staging names of handed-over files that HTTP has placed
// (`staged`: staging name, where HTTP put the file), then empty folders
// under `staging`.
void drop_staged(const std::vector<std::pair<std::filesystem::path, std::filesystem::path>>& staged,
                 const std::filesystem::path& staging);

} // namespace llmpt::fetch
