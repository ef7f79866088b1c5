#include "tracker/protocol.hpp"

#include "util/base64.hpp"

#include <nlohmann/json.hpp>

namespace llmpt::tracker::protocol {

using nlohmann::json;

namespace {

std::string str_or(const json& j, const char* key, std::string fallback = {}) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::uint64_t num_or(const json& j, const char* key, std::uint64_t fallback = 0) {
    const auto it = j.find(key);
    return it != j.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : fallback;
}

std::optional<std::uint64_t> num(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<std::uint64_t>();
}

std::optional<std::string> str(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

json files_json(const std::vector<TrackerFile>& files) {
    json out = json::array();
    for (const auto& f : files) out.push_back({{"path", f.path}, {"size", f.size}});
    return out;
}

} // namespace

json record_json(const TorrentRecord& r) {
    json j = {{"repo_id", r.repo_id},           {"revision", r.revision},
              {"repo_type", to_string(r.repo_type)}, {"name", r.name},
              {"info_hash", r.info_hash.v2()},  {"announce_key", r.info_hash.announce_key()},
              {"total_size", r.total_size},     {"file_count", r.file_count},
              {"piece_length", r.piece_length}, {"files", files_json(r.files)},
              {"created_at", r.created_at},
              {"stats", {{"seeders", r.seeders}, {"leechers", r.leechers}, {"completed", r.completed}}}};
    if (r.info_hash.hybrid()) j["info_hash_v1"] = r.info_hash.v1();
    return j;
}

std::optional<TorrentRecord> parse_record(const json& e) {
    if (!e.is_object()) return std::nullopt;
    // A record's torrent is named by its hashes; without them it is not one.
    auto hash = InfoHash::parse(str_or(e, "info_hash"), str_or(e, "info_hash_v1"));
    if (!hash) return std::nullopt;
    TorrentRecord r{.info_hash = std::move(*hash)};
    r.repo_id = str_or(e, "repo_id");
    r.revision = str_or(e, "revision");
    const auto type = parse_repo_type(str_or(e, "repo_type", "model"));
    if (!type) return std::nullopt; // not a record of ours
    r.repo_type = *type;
    r.name = str_or(e, "name");
    r.total_size = num_or(e, "total_size");
    r.file_count = num_or(e, "file_count");
    r.piece_length = num_or(e, "piece_length");
    r.created_at = str_or(e, "created_at");
    if (auto f = e.find("files"); f != e.end() && f->is_array())
        for (const auto& x : *f)
            if (x.is_object()) r.files.push_back({str_or(x, "path"), num_or(x, "size")});
    if (auto s = e.find("stats"); s != e.end() && s->is_object()) {
        r.seeders = num_or(*s, "seeders");
        r.leechers = num_or(*s, "leechers");
        r.completed = num_or(*s, "completed");
    }
    return r;
}

std::optional<std::vector<TorrentRecord>> parse_records(std::string_view body) {
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    const auto data = j.find("data");
    if (data == j.end() || !data->is_array()) return std::nullopt;
    std::vector<TorrentRecord> out;
    for (const auto& e : *data)
        if (auto rec = parse_record(e)) out.push_back(std::move(*rec));
    return out;
}

std::string publish_body(RepoType type, const std::string& repo_id, const std::string& revision,
                         const torrent::TorrentFacts& facts, std::string_view torrent_data) {
    std::vector<TrackerFile> files;
    for (const auto& f : facts.files) files.push_back({f.path, f.size});
    const json body = {{"repo_id", repo_id},
                       {"revision", revision},
                       {"repo_type", to_string(type)},
                       {"name", facts.name},
                       {"info_hash", facts.info_hash.v2()},
                       {"announce_key", facts.info_hash.announce_key()},
                       {"total_size", facts.total_size},
                       {"file_count", facts.files.size()},
                       {"piece_length", facts.piece_length},
                       {"files", files_json(files)},
                       {"torrent_data", util::base64_encode(torrent_data)}};
    return body.dump();
}

Publish parse_publish(std::string_view body) {
    Publish p;
    const auto fail = [&](std::string message) {
        p.error = std::move(message);
        return p;
    };
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return fail("body must be a JSON object");
    const auto repo = str(j, "repo_id"), revision = str(j, "revision"), data_b64 = str(j, "torrent_data");
    p.repo_type = str(j, "repo_type").value_or("model");
    if (!repo || !RepoId::parse(*repo)) return fail("repo_id: missing or invalid");
    p.repo_id = *repo;
    if (!revision) return fail("revision: missing");
    p.revision = *revision;
    if (!parse_repo_type(p.repo_type)) return fail("repo_type: must be model, dataset or space");
    if (!data_b64) return fail("torrent_data: missing");
    auto data = util::base64_decode(*data_b64);
    if (!data) return fail("torrent_data: not base64");
    p.torrent = std::move(*data);

    auto facts = torrent::inspect(p.torrent);
    if (!facts) return fail(facts.error().message);
    p.facts = std::move(*facts);
    if (auto st = torrent::check_snapshot_torrent(*p.facts, p.revision); !st) return fail(st.error().message);

    // Every field the client sent must be what the torrent says.
    const auto mismatch = [&](const char* field) { return fail(std::string(field) + ": does not match the torrent"); };
    const auto& f = *p.facts;
    if (auto v = str(j, "name"); v && *v != f.name) return mismatch("name");
    if (auto v = str(j, "info_hash"); !v || *v != f.info_hash.v2()) return mismatch("info_hash");
    if (auto v = str(j, "announce_key"); v && *v != f.info_hash.announce_key()) return mismatch("announce_key");
    if (num(j, "total_size") != f.total_size) return mismatch("total_size");
    if (num(j, "file_count") != f.files.size()) return mismatch("file_count");
    if (num(j, "piece_length") != f.piece_length) return mismatch("piece_length");
    const auto it = j.find("files");
    if (it == j.end() || !it->is_array() || it->size() != f.files.size()) return mismatch("files");
    for (std::size_t i = 0; i < f.files.size(); ++i) {
        const auto& e = (*it)[i];
        if (!e.is_object() || str(e, "path") != f.files[i].path || num(e, "size") != f.files[i].size)
            return mismatch("files");
    }
    return p;
}

std::string publish_result_body(const PublishResult& r) {
    return json{{"message", r.message},
                {"info_hash", r.info_hash.v2()},
                {"announce_key", r.info_hash.announce_key()},
                {"status", to_string(r.status)}}
        .dump();
}

std::optional<PublishResult> parse_publish_result(std::string_view body) {
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    const auto status = str_or(j, "status");
    PublishOutcome outcome;
    if (status == to_string(PublishOutcome::created)) outcome = PublishOutcome::created;
    else if (status == to_string(PublishOutcome::exists)) outcome = PublishOutcome::exists;
    else return std::nullopt;
    auto hash = InfoHash::parse(str_or(j, "info_hash"));
    if (!hash) return std::nullopt;
    return PublishResult{outcome, std::move(*hash), str_or(j, "message")};
}

std::string error_body(std::string_view message) {
    // A message may quote bytes from the request that are not UTF-8.
    return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string error_text(int status, std::string_view body) {
    const json j = json::parse(body, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string())
        return j["error"].get<std::string>();
    return "HTTP " + std::to_string(status);
}

} // namespace llmpt::tracker::protocol
