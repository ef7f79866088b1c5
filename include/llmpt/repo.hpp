// Strong types for the names a download is about: repo ids, repo types,
// commits and content hashes. They exist so that a revision never gets passed
// where a commit was meant, or a sha1 where a sha256 was.
#pragma once

#include <llmpt/error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmpt {

enum class RepoType { model, dataset, space };

std::string_view to_string(RepoType t) noexcept;         // "model"
std::optional<RepoType> parse_repo_type(std::string_view s); // "model"|"dataset"|"space"

// "org/name" or "name". Validated: ASCII letters, digits, '-', '_', '.',
// at most one '/', no "..", no leading/trailing separators, <= 96 chars.
class RepoId {
public:
    static Result<RepoId> parse(std::string_view s);
    const std::string& str() const noexcept { return id_; }
    bool operator==(const RepoId&) const = default;

private:
    explicit RepoId(std::string id) : id_(std::move(id)) {}
    std::string id_;
};

struct RepoRef {
    RepoType type = RepoType::model;
    RepoId id;

    // "models--org--name", the cache folder name.
    std::string folder_name() const;
    // "models/org/name" as used in /api/{type}s/{repo}.
    std::string api_path() const;
};

// A 40-hex git commit id, lower case.
class CommitId {
public:
    static std::optional<CommitId> parse(std::string_view s);
    const std::string& str() const noexcept { return hex_; }
    bool operator==(const CommitId&) const = default;

private:
    explicit CommitId(std::string hex) : hex_(std::move(hex)) {}
    std::string hex_;
};

// The name of a blob in the cache: a 64-hex sha256 (LFS files) or a 40-hex
// git-blob-sha1 (the others). The kind decides how a blob is verified.
class Etag {
public:
    enum class Kind { sha256, git_sha1 };
    // Accepts the raw header value too: quotes and a W/ prefix are stripped.
    static std::optional<Etag> parse(std::string_view s);
    const std::string& str() const noexcept { return hex_; }
    Kind kind() const noexcept { return hex_.size() == 64 ? Kind::sha256 : Kind::git_sha1; }
    bool operator==(const Etag&) const = default;

private:
    explicit Etag(std::string hex) : hex_(std::move(hex)) {}
    std::string hex_;
};

// A torrent's identity, as libtorrent's info_hash_t holds it: the v2 hash
// (sha256 of the info dictionary, 64 hex) and, for hybrid torrents, the v1
// one (sha1, 40 hex); lower case.
class InfoHash {
public:
    static std::optional<InfoHash> parse(std::string_view v2, std::string_view v1 = {});
    const std::string& v2() const noexcept { return v2_; }
    const std::string& v1() const noexcept { return v1_; } // empty: v2 only
    bool hybrid() const noexcept { return !v1_.empty(); }
    // What a v2 swarm is announced by: the v2 hash's first 20 bytes (BEP 52),
    // 40 hex; the tracker keys torrents and swarms by it.
    std::string announce_key() const { return v2_.substr(0, 40); }
    bool operator==(const InfoHash&) const = default;

private:
    InfoHash(std::string v2, std::string v1) : v2_(std::move(v2)), v1_(std::move(v1)) {}
    std::string v2_, v1_;
};

bool is_hex(std::string_view s) noexcept;

} // namespace llmpt
