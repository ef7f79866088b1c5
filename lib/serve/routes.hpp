// serve/: `llmpt serve`, an HF-compatible endpoint over a local cache
// (docs/design.md, "The Hub protocol"). Route parsing is separate from the answers so that it can be
// unit-tested without sockets.
#pragma once

#include <llmpt/repo.hpp>

#include <optional>
#include <string>
#include <vector>

namespace llmpt::serve {

enum class Route { revision, tree, paths_info, resolve, cdn };

struct Parsed {
    Route route = Route::revision;
    RepoType type = RepoType::model;
    std::string repo;        // "org/name", not yet validated as RepoId
    std::string revision;    // decoded
    std::string path;        // decoded file or folder path (may be empty for tree)
    std::string cdn_folder;  // /_cdn/{folder}/{etag}
    std::string cdn_etag;
};

// nullopt: not a route we know (404). Segments are decoded one by one, so an
// encoded "/" stays inside its segment and "..", "." or empty segments in a
// path make the route invalid.
std::optional<Parsed> parse_route(const std::string& method, const std::string& raw_path);

// "bytes=a-b" | "bytes=a-" | "bytes=-n" against `size`. nullopt: unsatisfiable
// or malformed; a multi-range asks for the whole file (returns {0,size-1}).
struct RangeSpec {
    std::uint64_t first = 0, last = 0;
};
std::optional<RangeSpec> parse_range(const std::string& header, std::uint64_t size);

} // namespace llmpt::serve
