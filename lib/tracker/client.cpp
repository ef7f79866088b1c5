// tracker/: TrackerClient, the REST client of the llmpt tracker.
#include <llmpt/tracker.hpp>

#include "http/client.hpp"
#include "tracker/protocol.hpp"
#include "torrent/inspect.hpp"
#include "util/url.hpp"

namespace llmpt {

TrackerClient::TrackerClient(std::string base_url, TrackerOptions options)
    : base_(std::move(base_url)), options_(std::move(options)) {
    base_ = util::trim_trailing_slashes(base_);
    http::global_init();
}

namespace {

std::string query(RepoType type, const std::string& repo_id, const std::string& revision) {
    return "?repo_id=" + util::url_encode(repo_id) + "&revision=" + util::url_encode(revision) +
           "&repo_type=" + std::string(to_string(type));
}

Result<http::Response> call(const std::string& url, const TrackerOptions& o, std::string body = {},
                            std::vector<std::string> headers = {}) {
    http::Request req;
    req.url = url;
    req.method = body.empty() ? "GET" : "POST";
    req.body = std::move(body);
    req.headers = std::move(headers);
    req.connect_timeout = o.connect_timeout;
    req.total_timeout = o.total_timeout;
    auto r = http::perform(req);
    if (!r) {
        auto e = std::move(r).error();
        e.message = "tracker unreachable: " + e.message;
        return e;
    }
    return r;
}

} // namespace

Result<std::optional<TorrentRecord>> TrackerClient::lookup(RepoType type, const std::string& repo_id,
                                                           const std::string& revision) {
    const auto url = base_ + "/api/v1/torrents" + query(type, repo_id, revision);
    auto r = call(url, options_);
    if (!r) return r.error();
    if (r->status == 404) return std::optional<TorrentRecord>{};
    if (r->status != 200) return Error(errc::network, "tracker answered " + tracker::protocol::error_text(r->status, r->body), url);
    auto records = tracker::protocol::parse_records(r->body);
    if (!records) return Error(errc::failure, "malformed answer from the tracker", url);
    for (auto& rec : *records)
        if (rec.revision == revision) return std::optional{std::move(rec)};
    return std::optional<TorrentRecord>{};
}

Result<std::string> TrackerClient::fetch_torrent(RepoType type, const std::string& repo_id,
                                                 const std::string& revision) {
    const auto url = base_ + "/api/v1/torrents/torrent" + query(type, repo_id, revision);
    auto r = call(url, options_);
    if (!r) return r.error();
    if (r->status == 404) return Error(errc::not_found, "the tracker has no torrent for this revision", url);
    if (r->status != 200) return Error(errc::network, "tracker answered " + tracker::protocol::error_text(r->status, r->body), url);
    return std::move(r->body);
}

TrackerOptions TrackerOptions::from(const Settings& s) {
    TrackerOptions o;
    o.connect_timeout = s.tracker_connect_timeout;
    o.total_timeout = s.tracker_timeout;
    o.publish_token = s.publish_token;
    return o;
}

std::string_view to_string(PublishOutcome o) noexcept { return o == PublishOutcome::created ? "created" : "exists"; }

Result<PublishResult> TrackerClient::publish(RepoType type, const std::string& repo_id,
                                             const std::string& revision, const std::string& torrent_data) {
    auto facts = torrent::inspect(torrent_data);
    if (!facts) return facts.error();
    auto body = tracker::protocol::publish_body(type, repo_id, revision, *facts, torrent_data);
    std::vector<std::string> headers{"Content-Type: application/json"};
    if (!options_.publish_token.empty()) headers.push_back("Authorization: Bearer " + options_.publish_token);
    const auto url = base_ + "/api/v1/publish";
    auto r = call(url, options_, std::move(body), headers);
    if (!r) return r.error();
    if (r->status == 401 || r->status == 403)
        return Error(errc::auth, "the tracker refused the publish token: " + tracker::protocol::error_text(r->status, r->body), url);
    if (r->status != 200) {
        const auto code = r->status == 429 || r->status >= 500 ? errc::network : errc::failure;
        return Error(code, "publish refused (HTTP " + std::to_string(r->status) + "): " + tracker::protocol::error_text(r->status, r->body), url);
    }
    auto result = tracker::protocol::parse_publish_result(r->body);
    if (!result) return Error(errc::failure, "malformed answer from the tracker", url);
    return std::move(*result);
}

} // namespace llmpt
