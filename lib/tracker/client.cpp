// tracker/: TrackerClient, the REST client of the llmpt tracker.
#include <llmpt/tracker.hpp>

#include "http/client.hpp"
#include "torrent/inspect.hpp"
#include "util/base64.hpp"
#include "util/url.hpp"

#include <nlohmann/json.hpp>

namespace llmpt {

using nlohmann::json;

namespace {

template <class T>
T get_or(const json& j, const char* key, T fallback) {
    const auto it = j.find(key);
    if (it == j.end()) return fallback;
    if constexpr (std::is_same_v<T, std::string>) {
        return it->is_string() ? it->template get<std::string>() : fallback;
    } else {
        return it->is_number_unsigned() ? it->template get<T>() : fallback;
    }
}

std::optional<TorrentRecord> parse_record(const json& e) {
    if (!e.is_object()) return std::nullopt;
    TorrentRecord r;
    r.repo_id = get_or<std::string>(e, "repo_id", "");
    r.revision = get_or<std::string>(e, "revision", "");
    r.repo_type = get_or<std::string>(e, "repo_type", "model");
    r.name = get_or<std::string>(e, "name", "");
    r.info_hash = get_or<std::string>(e, "info_hash", "");
    r.announce_key = get_or<std::string>(e, "announce_key", "");
    r.total_size = get_or<std::uint64_t>(e, "total_size", 0);
    r.file_count = get_or<std::uint64_t>(e, "file_count", 0);
    r.piece_length = get_or<std::uint64_t>(e, "piece_length", 0);
    r.created_at = get_or<std::string>(e, "created_at", "");
    if (auto f = e.find("files"); f != e.end() && f->is_array())
        for (const auto& x : *f)
            if (x.is_object()) r.files.push_back({get_or<std::string>(x, "path", ""), get_or<std::uint64_t>(x, "size", 0)});
    if (auto s = e.find("stats"); s != e.end() && s->is_object()) {
        r.seeders = get_or<std::uint64_t>(*s, "seeders", 0);
        r.leechers = get_or<std::uint64_t>(*s, "leechers", 0);
        r.completed = get_or<std::uint64_t>(*s, "completed", 0);
    }
    if (r.info_hash.empty()) return std::nullopt;
    return r;
}

std::string error_text(const http::Response& r) {
    const json j = json::parse(r.body, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string())
        return j["error"].get<std::string>();
    return "HTTP " + std::to_string(r.status);
}

} // namespace

TrackerClient::TrackerClient(std::string base_url, TrackerOptions options)
    : base_(std::move(base_url)), options_(std::move(options)) {
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
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
    if (r->status != 200) return Error(errc::network, "tracker answered " + error_text(*r), url);
    const json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_array())
        return Error(errc::failure, "malformed answer from the tracker", url);
    for (const auto& e : j["data"])
        if (auto rec = parse_record(e); rec && rec->revision == revision) return std::optional{*rec};
    return std::optional<TorrentRecord>{};
}

Result<std::string> TrackerClient::fetch_torrent(RepoType type, const std::string& repo_id,
                                                 const std::string& revision) {
    const auto url = base_ + "/api/v1/torrents/torrent" + query(type, repo_id, revision);
    auto r = call(url, options_);
    if (!r) return r.error();
    if (r->status == 404) return Error(errc::not_found, "the tracker has no torrent for this revision", url);
    if (r->status != 200) return Error(errc::network, "tracker answered " + error_text(*r), url);
    return std::move(r->body);
}

Result<PublishResult> TrackerClient::publish(RepoType type, const std::string& repo_id,
                                             const std::string& revision, const std::string& torrent_data) {
    auto facts = torrent::inspect(torrent_data);
    if (!facts) return facts.error();
    json files = json::array();
    for (const auto& f : facts->files) files.push_back({{"path", f.path}, {"size", f.size}});
    const json body = {{"repo_id", repo_id},
                       {"revision", revision},
                       {"repo_type", to_string(type)},
                       {"name", facts->name},
                       {"info_hash", facts->info_hash},
                       {"announce_key", facts->announce_key},
                       {"total_size", facts->total_size},
                       {"file_count", facts->files.size()},
                       {"piece_length", facts->piece_length},
                       {"files", files},
                       {"torrent_data", util::base64_encode(torrent_data)}};
    std::vector<std::string> headers{"Content-Type: application/json"};
    if (!options_.publish_token.empty()) headers.push_back("Authorization: Bearer " + options_.publish_token);
    const auto url = base_ + "/api/v1/publish";
    auto r = call(url, options_, body.dump(), headers);
    if (!r) return r.error();
    if (r->status == 401 || r->status == 403)
        return Error(errc::auth, "the tracker refused the publish token: " + error_text(*r), url);
    if (r->status != 200) {
        const auto code = r->status == 429 || r->status >= 500 ? errc::network : errc::failure;
        return Error(code, "publish refused (HTTP " + std::to_string(r->status) + "): " + error_text(*r), url);
    }
    const json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Error(errc::failure, "malformed answer from the tracker", url);
    return PublishResult{get_or<std::string>(j, "status", ""), get_or<std::string>(j, "info_hash", ""),
                         get_or<std::string>(j, "announce_key", ""), get_or<std::string>(j, "message", "")};
}

} // namespace llmpt
