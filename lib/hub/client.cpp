// HubClient: the Hub's REST API over http::perform_with_retry().
#include "hub/hub.hpp"

#include "util/url.hpp"

#include <nlohmann/json.hpp>

namespace llmpt::hub {

HubClient::HubClient(const Settings& s, const std::atomic<bool>* cancel, http::WaitNotice on_wait)
    : endpoint_(s.endpoint), token_(s.token), retry_(http::RetryPolicy::from(s, std::move(on_wait))),
      connect_timeout_(s.connect_timeout), api_timeout_(s.api_timeout), cancel_(cancel) {
    endpoint_ = util::trim_trailing_slashes(endpoint_);
}

std::vector<std::string> HubClient::auth_headers() const {
    if (token_.empty()) return {};
    return {"Authorization: Bearer " + token_};
}

Result<http::Response> HubClient::get_json(const std::string& url, const RepoRef& repo,
                                           const std::string& what, const std::string& body, std::size_t max_body) {
    http::Request req;
    req.max_body = max_body;
    req.method = body.empty() ? "GET" : "POST";
    req.url = url;
    req.body = body;
    req.headers = auth_headers();
    if (!body.empty()) req.headers.push_back("Content-Type: application/json");
    req.connect_timeout = connect_timeout_;
    req.total_timeout = api_timeout_;
    req.cancel = cancel_;
    auto r = http::perform_with_retry(req, retry_);
    if (!r) {
        auto e = std::move(r).error();
        if (e.code == errc::network)
            e.message = "cannot reach the Hub at " + endpoint_ + ": " + e.message;
        return e;
    }
    if (r->status >= 400) return error_from_response(r->status, r->headers, repo, what, !token_.empty());
    if (r->status != 200)
        return Error(errc::failure, "unexpected HTTP " + std::to_string(r->status) + " from the Hub", url);
    return r;
}

Result<CommitId> HubClient::resolve_revision(const RepoRef& repo, const std::string& revision) {
    const auto url = endpoint_ + "/api/" + repo.api_path() + "/revision/" + util::url_encode(revision);
    auto r = get_json(url, repo, "revision " + revision);
    if (!r) return r.error();
    return parse_revision_answer(r->body);
}

Result<std::vector<RemoteFile>> HubClient::list_files(const RepoRef& repo, const CommitId& commit) {
    std::string url = endpoint_ + "/api/" + repo.api_path() + "/tree/" + commit.str() +
                      "?recursive=true&expand=false";
    std::vector<RemoteFile> all;
    // Memory stays bounded whatever the Hub sends: pages of at most
    // kMaxTreePage bytes, kMaxListedFiles entries in all.
    for (int page = 0; page < 100000; ++page) {
        auto r = get_json(url, repo, "file list of " + commit.str(), {}, kMaxTreePage);
        if (!r) return r.error();
        auto files = parse_file_list(r->body);
        if (!files) return files.error();
        if (files->size() > kMaxListedFiles - all.size())
            return Error(errc::failure,
                         "the Hub lists more than " + std::to_string(kMaxListedFiles) +
                             " files for this revision; llmpt handles at most that many",
                         url);
        for (auto& f : *files) all.push_back(std::move(f));
        auto next = next_link(r->headers);
        if (!next) return all;
        // Relative links are resolved against the endpoint.
        url = next->rfind("http", 0) == 0 ? *next : endpoint_ + *next;
    }
    return Error(errc::failure, "the Hub's file list does not end", url);
}

Result<std::vector<RemoteFile>> HubClient::paths_info(const RepoRef& repo, const CommitId& commit,
                                                      const std::vector<std::string>& paths) {
    const auto url = endpoint_ + "/api/" + repo.api_path() + "/paths-info/" + commit.str();
    const nlohmann::json body = {{"paths", paths}, {"expand", true}};
    auto r = get_json(url, repo, "paths-info", body.dump());
    if (!r) return r.error();
    return parse_file_list(r->body);
}

Result<RemoteFile> HubClient::file_metadata(const RepoRef& repo, const CommitId& commit,
                                            const std::string& path) {
    http::Request req;
    req.method = "HEAD";
    req.url = file_url(repo, commit, path);
    req.headers = auth_headers();
    req.follow_redirects = false;
    req.connect_timeout = connect_timeout_;
    req.total_timeout = api_timeout_;
    req.cancel = cancel_;
    auto r = http::perform_with_retry(req, retry_);
    if (!r) return r.error();
    if (r->status >= 400) return error_from_response(r->status, r->headers, repo, path, !token_.empty());
    if (r->status != 200 && (r->status < 300 || r->status > 399))
        return Error(errc::failure, "unexpected HTTP " + std::to_string(r->status) + " from the Hub", req.url);
    return parse_file_headers(r->headers, path);
}

std::string HubClient::file_url(const RepoRef& repo, const CommitId& commit,
                                const std::string& path) const {
    std::string prefix;
    if (repo.type == RepoType::dataset) prefix = "/datasets";
    else if (repo.type == RepoType::space) prefix = "/spaces";
    return endpoint_ + prefix + "/" + repo.id.str() + "/resolve/" + commit.str() + "/" +
           util::url_encode_path(path);
}

} // namespace llmpt::hub
