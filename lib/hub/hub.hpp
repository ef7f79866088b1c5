// hub/: the client side of the Hub protocol (docs/design.md, "The Hub protocol"). HubApi is the seam:
// the downloader talks to this interface; HubClient implements it over
// http::perform(), unit tests can pass a fake.
#pragma once

#include "http/client.hpp"
#include "http/retry.hpp"

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>
#include <llmpt/settings.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llmpt::hub {

struct RemoteFile {
    std::string path; // repo-relative, validated (no "..", not absolute)
    std::uint64_t size = 0;
    Etag etag;        // sha256 for LFS files, git blob sha1 otherwise
    bool lfs = false;
};

class HubApi {
public:
    virtual ~HubApi() = default;
    // The commit a revision (branch, tag, PR ref or commit) points at.
    virtual Result<CommitId> resolve_revision(const RepoRef& repo, const std::string& revision) = 0;
    // Every file of the commit (all pages).
    virtual Result<std::vector<RemoteFile>> list_files(const RepoRef& repo, const CommitId& commit) = 0;
    // The given paths; missing ones are absent from the answer.
    virtual Result<std::vector<RemoteFile>> paths_info(const RepoRef& repo, const CommitId& commit,
                                                       const std::vector<std::string>& paths) = 0;
    // One file's metadata from HEAD on its resolve URL (redirects not
    // followed, as the Hub answers LFS files with a 302 carrying the headers).
    virtual Result<RemoteFile> file_metadata(const RepoRef& repo, const CommitId& commit,
                                             const std::string& path) = 0;
    // Where a file's bytes are (may redirect), and the headers to send there.
    virtual std::string file_url(const RepoRef& repo, const CommitId& commit,
                                 const std::string& path) const = 0;
    virtual std::vector<std::string> auth_headers() const = 0;
};

// What one revision's file list may hold: the largest repos on the Hub have
// some 100,000 files; past this a tree is taken for hostile.
constexpr std::size_t kMaxListedFiles = 300000;
constexpr std::size_t kMaxTreePage = 16u << 20; // bytes of one page of the tree

class HubClient final : public HubApi {
public:
    // `on_wait` is told when the Hub asks us to wait (a 429 with RateLimit).
    explicit HubClient(const Settings& settings, const std::atomic<bool>* cancel = nullptr,
                       http::WaitNotice on_wait = {});

    Result<CommitId> resolve_revision(const RepoRef& repo, const std::string& revision) override;
    Result<std::vector<RemoteFile>> list_files(const RepoRef& repo, const CommitId& commit) override;
    Result<std::vector<RemoteFile>> paths_info(const RepoRef& repo, const CommitId& commit,
                                               const std::vector<std::string>& paths) override;
    Result<RemoteFile> file_metadata(const RepoRef& repo, const CommitId& commit,
                                     const std::string& path) override;
    std::string file_url(const RepoRef& repo, const CommitId& commit,
                         const std::string& path) const override;
    std::vector<std::string> auth_headers() const override;

private:
    Result<http::Response> get_json(const std::string& url, const RepoRef& repo, const std::string& what,
                                    const std::string& body = {}, std::size_t max_body = 64u << 20);
    std::string endpoint_;
    std::string token_;
    http::RetryPolicy retry_;
    std::chrono::milliseconds connect_timeout_;
    std::chrono::seconds api_timeout_;
    const std::atomic<bool>* cancel_;
};

// --- pure helpers, unit-tested -------------------------------------------

// Maps an HTTP error answer (status >= 400, X-Error-Code) to a typed Error.
Error error_from_response(int status, const http::Headers& headers, const RepoRef& repo,
                          const std::string& what, bool have_token);

// The metadata of a resolve answer's headers (X-Linked-Etag/ETag,
// X-Linked-Size/Content-Length), for `path`.
Result<RemoteFile> parse_file_headers(const http::Headers& headers, const std::string& path);

// Parses a /revision answer ({"sha": ...}).
Result<CommitId> parse_revision_answer(const std::string& body);
// Parses one tree or paths-info page; directories are skipped.
Result<std::vector<RemoteFile>> parse_file_list(const std::string& body);
// A repo path is safe when relative, without "." / ".." / empty segments,
// backslashes or control characters.
bool safe_repo_path(std::string_view path);
// The "next" URL of a Link header, if any.
std::optional<std::string> next_link(const http::Headers& headers);

} // namespace llmpt::hub
