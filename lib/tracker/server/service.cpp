#include "tracker/server/service.hpp"

#include "util/hash.hpp"

#include <llmpt/repo.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>

namespace llmpt::tracker {

using nlohmann::json;
using server::Request;
using server::Response;

namespace {

std::string first_value(const std::map<std::string, std::vector<std::string>>& q, const std::string& k) {
    auto it = q.find(k);
    return it == q.end() || it->second.empty() ? std::string() : it->second.front();
}

} // namespace

std::chrono::seconds peer_ttl(std::string_view peer_id, std::chrono::seconds interval) {
    const bool follows_interval = peer_id.substr(0, 3) == "-LM";
    return 2 * (follows_interval ? interval : std::max(interval, kClientAnnounceFloor));
}

Service::Service(ServiceOptions o)
    : o_(std::move(o)), cohorts_(o_.cohort), announce_limit_(o_.announce_rate, o_.announce_burst),
      publish_limit_(o_.publish_rate, o_.publish_burst), cohort_limit_(o_.cohort_rate, o_.cohort_burst) {}

Result<std::unique_ptr<Service>> Service::open(ServiceOptions options) {
    std::unique_ptr<Service> s(new Service(std::move(options)));
    auto db = Db::open(s->o_.db_path);
    if (!db) return db.error();
    s->db_ = std::move(*db);
    for (const auto& row : s->db_->all_keys()) s->index_torrent(row);
    return s;
}

void Service::log(const std::string& line) const {
    if (o_.log) o_.log(line);
}

namespace {
// The 20-byte keys a torrent is announced under: its announce_key (the
// first 20 bytes of the v2 hash) and, for a hybrid, its v1 hash.
std::vector<std::string> announce_keys(const TorrentRow& row) {
    std::vector<std::string> keys;
    if (auto key = util::from_hex(row.announce_key); key && key->size() == 20) keys.push_back(*key);
    if (auto v1 = util::from_hex(row.info_hash_v1); v1 && v1->size() == 20) keys.push_back(*v1);
    return keys;
}
} // namespace

void Service::index_torrent(const TorrentRow& row) {
    auto keys = announce_keys(row);
    std::unique_lock lk(index_mu_);
    for (const auto& k : keys) by_hash_[k] = row.id;
    swarms_.add_torrent(row.id, std::move(keys), row.completed);
}

void Service::unindex_torrent(const TorrentRow& row) {
    {
        std::unique_lock lk(index_mu_);
        for (const auto& k : announce_keys(row)) by_hash_.erase(k);
    }
    swarms_.remove_torrent(row.id);
}

std::optional<std::int64_t> Service::torrent_for_hash(const std::string& raw20) {
    std::shared_lock lk(index_mu_);
    auto it = by_hash_.find(raw20);
    if (it == by_hash_.end()) return std::nullopt;
    return it->second;
}

std::string Service::client_address(const Request& req, const std::string& ip_param) const {
    if (!o_.trust_proxy) return req.remote;
    if (auto xff = req.header("x-forwarded-for"); !xff.empty()) {
        auto first = xff.substr(0, xff.find(','));
        first.erase(0, first.find_first_not_of(' '));
        first.erase(first.find_last_not_of(' ') + 1);
        if (make_addr(first, 1)) return first;
    }
    if (auto real = req.header("x-real-ip"); !real.empty() && make_addr(real, 1)) return real;
    if (!ip_param.empty() && make_addr(ip_param, 1)) return ip_param;
    return req.remote;
}

std::optional<Response> Service::over_limit(RateLimiter& limit, const std::string& remote) {
    std::chrono::seconds retry{0};
    if (limit.allow(remote, Clock::now(), retry)) return std::nullopt;
    auto r = Response::json_error(429, "too many requests");
    r.header("Retry-After", std::to_string(retry.count()));
    return r;
}

Response Service::handle(const Request& req) {
    const auto& p = req.path;
    if (p == "/announce") return announce(req);
    if (p == "/scrape") return scrape(req);
    if (p == "/health") {
        Response r;
        r.body = "OK";
        r.header("Content-Type", "text/plain");
        return r;
    }
    if (p == "/api/v1/torrents" && req.method == "GET") return torrents(req);
    if (p == "/api/v1/torrents/torrent" && req.method == "GET") return torrent_file(req);
    if (p == "/api/v1/publish") {
        if (req.method != "POST") return Response::json_error(405, "use POST");
        return publish(req);
    }
    if (p.rfind("/api/v1/cohort/", 0) == 0) {
        if (req.method != "POST") return Response::json_error(405, "use POST");
        return cohort(req);
    }
    return Response::json_error(404, "not found");
}

std::optional<TorrentRecord> Service::record(const TorrentRow& t, Clock::time_point now) {
    // Rows are stored only after publish checked them; a row whose hash no
    // longer parses (a database edited by hand) is left out of answers.
    auto hash = InfoHash::parse(t.info_hash, t.info_hash_v1);
    if (!hash) return std::nullopt;
    TorrentRecord r{.info_hash = std::move(*hash)};
    r.repo_id = t.repo_id;
    r.revision = t.revision;
    r.repo_type = parse_repo_type(t.repo_type).value_or(RepoType::model); // stored only after publish checked it
    r.name = t.name;
    r.total_size = t.total_size;
    r.file_count = t.file_count;
    r.piece_length = t.piece_length;
    for (const auto& f : t.files) r.files.push_back({f.path, f.size});
    r.created_at = t.created_at;
    const auto c = swarms_.counts(t.id, now);
    r.seeders = c.seeders;
    r.leechers = c.leechers;
    r.completed = c.completed;
    return r;
}

Response Service::torrents(const Request& req) {
    const auto q = server::parse_query(req.query);
    const auto repo = first_value(q, "repo_id");
    const auto revision = first_value(q, "revision");
    auto type = first_value(q, "repo_type");
    if (type.empty()) type = "model";
    if (repo.empty()) return Response::json_error(400, "repo_id is required");
    if (!parse_repo_type(type)) return Response::json_error(400, "repo_type must be model, dataset or space");
    std::vector<TorrentRow> rows;
    if (!revision.empty()) {
        if (auto row = db_->find(type, repo, revision, true)) rows.push_back(std::move(*row));
    } else {
        rows = db_->list(type, repo, 100);
    }
    json data = json::array();
    const auto now = Clock::now();
    for (const auto& row : rows)
        if (auto r = record(row, now)) data.push_back(protocol::record_json(*r));
    Response r;
    r.body = json{{"total", data.size()}, {"data", data}}.dump(-1, ' ', false, json::error_handler_t::replace);
    r.header("Content-Type", "application/json");
    return r;
}

Response Service::torrent_file(const Request& req) {
    const auto q = server::parse_query(req.query);
    auto type = first_value(q, "repo_type");
    if (type.empty()) type = "model";
    const auto repo = first_value(q, "repo_id"), revision = first_value(q, "revision");
    if (repo.empty() || revision.empty()) return Response::json_error(400, "repo_id and revision are required");
    auto data = db_->torrent_data(type, repo, revision);
    if (!data) return Response::json_error(404, "no torrent for " + type + " " + repo + "@" + revision);
    Response r;
    r.body = std::move(*data);
    r.header("Content-Type", "application/x-bittorrent");
    return r;
}

void Service::tick() {
    const auto dropped = swarms_.expire(Clock::now());
    cohorts_.expire(Clock::now());
    log(fmt::format("stats announces={} refused={} peers={} expired={} cohorts={}", announces_.exchange(0),
                    refused_.exchange(0), swarms_.peer_count(), dropped, cohorts_.size()));
}

} // namespace llmpt::tracker
