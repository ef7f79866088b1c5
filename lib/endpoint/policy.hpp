// endpoint/policy: the decisions of the HF endpoint (endpoint/endpoint.hpp)
// that need no sockets: which files one task fetches, which Hub headers a
// file's answer carries, when a cached metadata answer may stand in for
// the Hub. Unit-tested in tests/unit/test_endpoint.cpp.
#pragma once

#include <llmpt/repo.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmpt::endpoint {

// A revision that names one commit (40 hex digits): what the Hub answers
// for it never changes.
bool pinned_revision(std::string_view revision);

// Whether a cached metadata answer may be used. Answers for a pinned
// revision are used before asking the Hub, at any age; answers for a branch
// or tag only when the Hub cannot be reached, and only while younger than
// `branch_ttl`.
enum class CacheUse { first, if_upstream_down, no };
CacheUse cache_use(bool pinned, std::chrono::seconds age, std::chrono::seconds branch_ttl);

// The files one download task of a snapshot fetches, as DownloadRequest's
// `files` / `include` / `exclude`. A client asking for one file of a
// snapshot usually asks for the rest next (snapshot_download, from_pretrained):
// the task takes the whole snapshot but for the weights in formats nobody
// asked for (a repo often carries one model as .safetensors, .bin, .onnx,
// ...); a .gguf file is one quantisation of many and comes alone.
// `formats`: the weight formats the snapshot holds, when a client fetched
// its file list first (snapshot_download asks /revision/, @huggingface/hub
// a recursive /tree/). A file that is no weight then takes the weights too:
// the one format there is, or .safetensors of several (transformers'
// choice), so that the snapshot is one task and one torrent.
struct Selection {
    std::vector<std::string> files, include, exclude;
    bool covers(const std::string& path) const;
    bool operator==(const Selection&) const = default;
};
Selection selection_for(const std::string& path, const std::optional<std::set<std::string>>& formats = std::nullopt);
// The weight formats (".safetensors", ".bin", ...) among a snapshot's paths.
std::set<std::string> weight_formats(const std::vector<std::string>& paths);
// The paths a metadata answer lists in full: a /revision/ answer's
// siblings (`revision`), else a /tree/ page's files (complete only when the
// caller knows it was recursive and the last page); nullopt if it lists none.
std::optional<std::vector<std::string>> listed_paths(bool revision, const std::string& body);
// Whether a /tree/ answer to `target` is the whole snapshot: recursive, its
// first page and its last (no Link rel="next"). `headers`: lower-case names.
bool whole_tree(std::string_view target, const std::map<std::string, std::string>& headers);

// What the Hub said about one file (HEAD /{repo}/resolve/{rev}/{path}
// without following its redirect).
struct FileMeta {
    std::string commit;                 // X-Repo-Commit
    std::optional<Etag> etag;           // X-Linked-Etag, else ETag: the blob's name
    std::optional<std::uint64_t> size;  // X-Linked-Size, else Content-Length
    // The headers a client reads, as the Hub sent them, in this order.
    std::vector<std::pair<std::string, std::string>> headers;
};
// `headers`: lower-case names (http::Headers).
FileMeta file_meta(const std::map<std::string, std::string>& headers);

// What the Hub answers, headers lower-case as http::Headers has them, to a
// HEAD of one file of `commit`: X-Repo-Commit, and X-Linked-Etag /
// X-Linked-Size for an LFS file (a sha256 etag) or ETag / Content-Length
// for a git blob. For a file of a commit whose list the cache keeps, while
// the Hub is down (file_meta() reads it back).
std::map<std::string, std::string> listed_file_headers(const CommitId& commit, const Etag& etag, std::uint64_t size);
// The Hub's /revision answer for `commit` as far as clients read it: id,
// sha and the siblings' names.
std::string listed_revision_body(const std::string& repo_id, const CommitId& commit,
                                 const std::vector<std::string>& paths);

// The Hub's response headers that are passed on to a client: content type,
// error codes, commit and etags, pagination (with the Hub's base URL
// replaced by ours). Never a Xet header, so that clients stay on HTTP.
std::vector<std::pair<std::string, std::string>> passed_headers(const std::map<std::string, std::string>& headers,
                                                                 const std::string& upstream_base,
                                                                 const std::string& our_base);

} // namespace llmpt::endpoint
