#include "service.hpp"

#include "announce.hpp"
#include "bencode.hpp"
#include "hub/hub.hpp"
#include "torrent/inspect.hpp"
#include "util/base64.hpp"
#include "util/hash.hpp"

#include <llmpt/repo.hpp>

#include <nlohmann/json.hpp>

#include <map>

namespace llmpt::tracker {

using nlohmann::json;
using server::Request;
using server::Response;

namespace {

Response json_ok(const json& j) {
    Response r;
    r.body = j.dump();
    r.header("Content-Type", "application/json");
    return r;
}

Response bencoded(std::string body, int status = 200) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    r.header("Content-Type", "text/plain");
    return r;
}

Response too_many(std::chrono::seconds retry_after, bool bencode) {
    Response r = bencode ? bencoded(failure("rate limited"), 429)
                         : Response::json_error(429, "too many requests");
    r.header("Retry-After", std::to_string(retry_after.count()));
    return r;
}

// Constant-time comparison, so the token cannot be found byte by byte.
bool same_secret(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

json record_json(const TorrentRow& t, const SwarmCounts& c) {
    json files = json::array();
    for (const auto& f : t.files) files.push_back({{"path", f.path}, {"size", f.size}});
    return {{"repo_id", t.repo_id},           {"revision", t.revision},
            {"repo_type", t.repo_type},       {"name", t.name},
            {"info_hash", t.info_hash},       {"announce_key", t.announce_key},
            {"total_size", t.total_size},     {"file_count", t.file_count},
            {"piece_length", t.piece_length}, {"files", files},
            {"created_at", t.created_at},
            {"stats", {{"seeders", c.seeders}, {"leechers", c.leechers}, {"completed", c.completed}}}};
}

std::string first_value(const std::map<std::string, std::vector<std::string>>& q, const std::string& k) {
    auto it = q.find(k);
    return it == q.end() || it->second.empty() ? std::string() : it->second.front();
}

} // namespace

Service::Service(ServiceOptions o)
    : o_(std::move(o)), swarms_(o_.announce_interval * 2), announce_limit_(o_.announce_rate, o_.announce_burst),
      publish_limit_(o_.publish_rate, o_.publish_burst) {}

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

void Service::index_torrent(const TorrentRow& row) {
    std::unique_lock lk(index_mu_);
    if (auto key = util::from_hex(row.announce_key)) by_hash_[*key] = row.id;
    if (auto v1 = util::from_hex(row.info_hash_v1); v1 && v1->size() == 20) by_hash_[*v1] = row.id;
    swarms_.add_torrent(row.id, row.completed);
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
    return Response::json_error(404, "not found");
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
    for (const auto& row : rows) data.push_back(record_json(row, swarms_.counts(row.id, now)));
    return json_ok({{"total", data.size()}, {"data", data}});
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

Response Service::publish(const Request& req) {
    const auto remote = client_address(req, "");
    std::chrono::seconds retry{0};
    if (!publish_limit_.allow(remote, Clock::now(), retry)) return too_many(retry, false);

    AuditRow audit{remote, "", "", "", "", "", 0, ""};
    const auto done = [&](Response r, const std::string& detail) {
        audit.status = r.status;
        audit.detail = detail;
        db_->audit(audit);
        log("publish remote=" + remote + " repo=" + audit.repo_type + ":" + audit.repo_id + "@" + audit.revision +
            " status=" + std::to_string(r.status) + (detail.empty() ? "" : " detail=\"" + detail + "\""));
        return r;
    };
    const auto fail = [&](int status, const std::string& msg) { return done(Response::json_error(status, msg), msg); };

    if (!o_.publish_tokens.empty()) {
        const auto auth = req.header("authorization");
        const std::string prefix = "Bearer ";
        if (auth.compare(0, prefix.size(), prefix) != 0) return fail(401, "publish token required");
        const auto token = auth.substr(prefix.size());
        bool known = false;
        for (const auto& t : o_.publish_tokens) known |= same_secret(t, token);
        if (!known) return fail(401, "publish token refused");
        audit.token_id = util::sha256_hex(token).substr(0, 12);
    }

    const json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return fail(400, "body must be a JSON object");
    const auto str = [&](const char* k) -> std::optional<std::string> {
        auto it = j.find(k);
        if (it == j.end() || !it->is_string()) return std::nullopt;
        return it->get<std::string>();
    };
    const auto repo = str("repo_id"), revision = str("revision"), data_b64 = str("torrent_data");
    audit.repo_type = str("repo_type").value_or("model");
    if (!repo || !RepoId::parse(*repo)) return fail(400, "repo_id: missing or invalid");
    audit.repo_id = *repo;
    if (!revision) return fail(400, "revision: missing");
    audit.revision = *revision;
    if (!parse_repo_type(audit.repo_type)) return fail(400, "repo_type: must be model, dataset or space");
    if (!data_b64) return fail(400, "torrent_data: missing");
    const auto data = util::base64_decode(*data_b64);
    if (!data) return fail(400, "torrent_data: not base64");

    auto facts = torrent::inspect(*data);
    if (!facts) return fail(400, facts.error().message);
    audit.info_hash = facts->info_hash;
    if (auto st = torrent::check_snapshot_torrent(*facts, *revision); !st) return fail(400, st.error().message);

    // Every field the client sent must be what the torrent says.
    const auto mismatch = [&](const char* field) { return fail(400, std::string(field) + ": does not match the torrent"); };
    if (auto v = str("name"); v && *v != facts->name) return mismatch("name");
    if (auto v = str("info_hash"); !v || *v != facts->info_hash) return mismatch("info_hash");
    if (auto v = str("announce_key"); v && *v != facts->announce_key) return mismatch("announce_key");
    const auto num = [&](const char* k) -> std::optional<std::uint64_t> {
        auto it = j.find(k);
        if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
        return it->get<std::uint64_t>();
    };
    if (num("total_size") != facts->total_size) return mismatch("total_size");
    if (num("file_count") != facts->files.size()) return mismatch("file_count");
    if (num("piece_length") != facts->piece_length) return mismatch("piece_length");
    {
        const auto it = j.find("files");
        if (it == j.end() || !it->is_array() || it->size() != facts->files.size()) return mismatch("files");
        for (std::size_t i = 0; i < facts->files.size(); ++i) {
            const auto& e = (*it)[i];
            if (!e.is_object() || !e.contains("path") || !e["path"].is_string() || !e.contains("size") ||
                !e["size"].is_number_unsigned() || e["path"].get<std::string>() != facts->files[i].path ||
                e["size"].get<std::uint64_t>() != facts->files[i].size)
                return mismatch("files");
        }
    }

    if (!o_.hub_endpoint.empty()) {
        Settings hs;
        hs.endpoint = o_.hub_endpoint;
        hs.max_retries = 1;
        hs.api_timeout = std::chrono::seconds(10);
        hs.connect_timeout = std::chrono::milliseconds(2000);
        hub::HubClient hub(hs);
        const RepoRef ref{*parse_repo_type(audit.repo_type), *RepoId::parse(*repo)};
        auto listed = hub.list_files(ref, *CommitId::parse(*revision));
        if (!listed) {
            if (listed.error().code == errc::network) {
                auto r = Response::json_error(503, "cannot check the torrent against the Hub: " + listed.error().message);
                r.header("Retry-After", "30");
                return done(std::move(r), "hub unreachable");
            }
            return fail(422, "the Hub does not confirm this revision: " + listed.error().message);
        }
        std::map<std::string, std::uint64_t> hub_files, ours;
        for (const auto& f : *listed) hub_files[f.path] = f.size;
        for (const auto& f : facts->files) ours[f.path] = f.size;
        if (hub_files != ours) {
            for (const auto& [path, size] : ours)
                if (!hub_files.count(path) || hub_files[path] != size)
                    return fail(422, "files: " + path + " does not match the Hub's tree");
            return fail(422, "files: the torrent lacks files of the Hub's tree");
        }
    }

    const auto reply = [&](const char* status, const char* message) {
        return done(json_ok({{"message", message}, {"info_hash", facts->info_hash},
                             {"announce_key", facts->announce_key}, {"status", status}}),
                    status);
    };
    if (auto existing = db_->find(audit.repo_type, *repo, *revision, false)) {
        if (existing->info_hash == facts->info_hash) return reply("exists", "already published");
        return fail(409, "a different torrent is published for this revision");
    }
    TorrentRow row;
    row.repo_type = audit.repo_type;
    row.repo_id = *repo;
    row.revision = *revision;
    row.name = facts->name;
    row.info_hash = facts->info_hash;
    row.info_hash_v1 = facts->info_hash_v1;
    row.announce_key = facts->announce_key;
    row.total_size = facts->total_size;
    row.file_count = facts->files.size();
    row.piece_length = facts->piece_length;
    for (const auto& f : facts->files) row.files.push_back({f.path, f.size});
    auto id = db_->insert(row, *data);
    if (!id) {
        if (id.error().message == "conflict") {
            auto again = db_->find(audit.repo_type, *repo, *revision, false);
            if (again && again->info_hash == facts->info_hash) return reply("exists", "already published");
            return fail(409, "this torrent or revision is already published differently");
        }
        return fail(500, id.error().message);
    }
    row.id = *id;
    index_torrent(row);
    return reply("created", "published");
}

Response Service::announce(const Request& req) {
    auto parsed = parse_announce(req.query, o_.max_numwant);
    const auto remote = client_address(req, parsed ? parsed->ip : std::string());
    std::chrono::seconds retry{0};
    if (!announce_limit_.allow(remote, Clock::now(), retry)) {
        ++refused_;
        return too_many(retry, true);
    }
    if (!parsed) {
        ++refused_;
        return bencoded(failure(parsed.error().message));
    }
    const auto id = torrent_for_hash(parsed->info_hash);
    if (!id) {
        ++refused_;
        return bencoded(failure("unregistered torrent"));
    }
    const auto addr = make_addr(remote, parsed->port);
    if (!addr) return bencoded(failure("bad client address"));

    using Ev = SwarmStore::Ev;
    const Ev ev = parsed->event == Event::started     ? Ev::started
                  : parsed->event == Event::completed ? Ev::completed
                  : parsed->event == Event::stopped   ? Ev::stopped
                                                      : Ev::none;
    auto res = swarms_.announce(*id, *addr, parsed->peer_id, parsed->left == 0, ev, parsed->numwant,
                                parsed->compact, Clock::now());
    if (res.completed_now) db_->add_completed(*id, 1);
    ++announces_;

    Bencoder b;
    b.dict()
        .kv("complete", static_cast<std::int64_t>(res.counts.seeders))
        .kv("downloaded", static_cast<std::int64_t>(res.counts.completed))
        .kv("incomplete", static_cast<std::int64_t>(res.counts.leechers))
        .kv("interval", o_.announce_interval.count())
        .kv("min interval", o_.min_interval.count());
    if (parsed->compact) {
        b.kv("peers", res.peers);
        if (!res.peers6.empty()) b.kv("peers6", res.peers6);
    } else {
        b.str("peers").list();
        for (const auto& [ip, port] : res.peer_list) b.dict().kv("ip", ip).kv("port", port).end();
        b.end();
    }
    return bencoded(b.end().take());
}

Response Service::scrape(const Request& req) {
    auto hashes = parse_scrape(req.query, o_.max_scrape);
    if (!hashes) return bencoded(failure(hashes.error().message));
    std::map<std::string, SwarmCounts> found;
    const auto now = Clock::now();
    for (const auto& h : *hashes)
        if (auto id = torrent_for_hash(h)) found[h] = swarms_.counts(*id, now);
    Bencoder b;
    b.dict().str("files").dict();
    for (const auto& [h, c] : found)
        b.str(h)
            .dict()
            .kv("complete", static_cast<std::int64_t>(c.seeders))
            .kv("downloaded", static_cast<std::int64_t>(c.completed))
            .kv("incomplete", static_cast<std::int64_t>(c.leechers))
            .end();
    return bencoded(b.end().end().take());
}

void Service::tick() {
    const auto dropped = swarms_.expire(Clock::now());
    log("stats announces=" + std::to_string(announces_.exchange(0)) + " refused=" +
        std::to_string(refused_.exchange(0)) + " peers=" + std::to_string(swarms_.peer_count()) +
        " expired=" + std::to_string(dropped));
}

} // namespace llmpt::tracker
