// Operations on a HuggingFace cache as a whole: import a plain folder as a
// repo, verify a snapshot, look a snapshot up without the network.
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace llmpt {

struct ImportRequest {
    std::filesystem::path source;            // a plain folder
    std::string repo;
    RepoType repo_type = RepoType::model;
    std::string revision = "main";
    std::filesystem::path cache_dir;
};

struct ImportResult {
    CommitId commit;                         // deterministic: same content, same id
    std::filesystem::path snapshot;
    std::size_t files = 0;
    std::uint64_t bytes = 0;
};

// Files are classified as the Hub does: binary or >= 10 MiB files are LFS
// (sha256 etag), the others are git blobs (git-blob-sha1 etag). Hidden
// folders (.git, .cache) are skipped.
Result<ImportResult> import_folder(const ImportRequest& request);

struct VerifyProblem {
    std::string path;                        // repo-relative
    std::string reason;                      // "sha256 mismatch", "missing blob", ...
};

struct VerifyReport {
    CommitId commit;
    std::size_t files_checked = 0;
    std::uint64_t bytes_checked = 0;
    std::vector<VerifyProblem> problems{};
    bool ok() const { return problems.empty(); }
};

// Rehashes every file of the snapshot against its blob's etag.
Result<VerifyReport> verify_snapshot(const std::filesystem::path& cache_dir, const RepoRef& repo,
                                     const std::string& revision);

} // namespace llmpt
