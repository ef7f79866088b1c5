// The unit of work of a download: one blob to fetch and every path of the
// snapshot that points at it.
#pragma once

#include "hub/hub.hpp"
#include "torrent/parts.hpp"
#include "util/hash.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace llmpt::fetch {

struct Wanted {
    hub::RemoteFile file;            // the first path with this etag
    std::vector<std::string> paths;  // every path to link to the blob
};

// Pieces this process wrote into staging and hashed itself (a cohort
// share): per snapshot path, the v2 hash of each by piece index in the file.
using StagedHashes = std::map<std::string, std::map<std::uint64_t, torrent::Sha256Digest>>;

// The Hub's hash (sha256, or the git blob sha1) over a staged file's first
// `bytes`, taken as this process fetched them: whoever checks the file goes
// on from there instead of reading those bytes back.
struct PrefixHash {
    util::Hasher state;
    std::uint64_t bytes = 0;
};

// What a cohort share left in staging.
struct StagedShare {
    StagedHashes pieces;
    std::map<std::string, PrefixHash> prefixes; // by snapshot path
};

} // namespace llmpt::fetch
