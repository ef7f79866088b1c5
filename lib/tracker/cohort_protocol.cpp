#include "tracker/cohort_protocol.hpp"

#include "hub/hub.hpp"
#include "util/base64.hpp"

#include <llmpt/repo.hpp>

#include <nlohmann/json.hpp>

#include <set>

namespace llmpt::tracker::cohort {

using nlohmann::json;

namespace {

std::optional<json> object(std::string_view body) {
    auto j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    return j;
}

// The string field `key`, or an error naming it.
bool get(const json& j, const char* key, std::string& out, std::optional<std::string>& error, bool required = true) {
    const auto it = j.find(key);
    if (it == j.end()) {
        if (required) error = std::string(key) + " is required";
        return !required;
    }
    if (!it->is_string()) {
        error = std::string(key) + " must be a string";
        return false;
    }
    out = it->get<std::string>();
    return true;
}

bool get(const json& j, const char* key, std::uint64_t& out, std::optional<std::string>& error) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned()) {
        error = std::string(key) + " must be a non-negative integer";
        return false;
    }
    out = it->get<std::uint64_t>();
    return true;
}

template <class T>
Parsed<T> fail(Parsed<T>& p, std::string message) {
    p.error = std::move(message);
    return std::move(p);
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

} // namespace

std::string_view to_string(State s) {
    switch (s) {
    case State::fetching: return "fetching";
    case State::assembling: return "assembling";
    case State::published: return "published";
    case State::failed: return "failed";
    }
    return "failed";
}

std::string join_body(const JoinRequest& r) {
    json files = json::array();
    for (const auto& f : r.files) files.push_back({{"path", f.path}, {"size", f.size}});
    return dump({{"repo_type", r.repo_type},
                 {"repo_id", r.repo_id},
                 {"revision", r.revision},
                 {"tracker", r.tracker},
                 {"files", files}});
}

std::string lease_body(const LeaseRequest& r) {
    return dump({{"cohort", r.cohort}, {"member", r.member}, {"want", r.want}});
}

std::string report_body(const ReportRequest& r) {
    std::string raw;
    raw.reserve(r.hashes.size() * 32);
    for (const auto& h : r.hashes) raw.append(reinterpret_cast<const char*>(h.data()), h.size());
    return dump({{"cohort", r.cohort},
                 {"member", r.member},
                 {"path", r.path},
                 {"first_piece", r.first_piece},
                 {"hashes", util::base64_encode(raw)}});
}

std::string answer_body(const Answer& a) {
    json j = {{"state", to_string(a.state)},
              {"lease_seconds", a.lease_seconds},
              {"remaining", a.remaining},
              {"members", a.members}};
    if (!a.cohort.empty()) j["cohort"] = a.cohort;
    if (!a.member.empty()) j["member"] = a.member;
    if (a.piece_length) j["piece_length"] = a.piece_length;
    if (a.chunk)
        j["chunk"] = {{"path", a.chunk->path},
                      {"first_piece", a.chunk->first_piece},
                      {"pieces", a.chunk->pieces},
                      {"offset", a.chunk->offset},
                      {"length", a.chunk->length}};
    else
        j["chunk"] = nullptr;
    if (!a.info_hash.empty()) j["info_hash"] = a.info_hash;
    if (!a.error.empty()) j["error"] = a.error;
    return dump(j);
}

Parsed<JoinRequest> parse_join(std::string_view body) {
    Parsed<JoinRequest> p;
    auto j = object(body);
    if (!j) {
        p.error = "the body must be a JSON object";
        return p;
    }
    auto& r = p.value;
    if (!get(*j, "repo_id", r.repo_id, p.error) || !get(*j, "revision", r.revision, p.error) ||
        !get(*j, "repo_type", r.repo_type, p.error, false) || !get(*j, "tracker", r.tracker, p.error, false))
        return p;
    if (r.repo_type.empty()) r.repo_type = "model";
    if (!parse_repo_type(r.repo_type)) return fail(p, "repo_type must be model, dataset or space");
    if (!RepoId::parse(r.repo_id)) return fail(p, "repo_id is not a repo id");
    if (!CommitId::parse(r.revision)) return fail(p, "revision must be a 40-hex commit");
    if (r.tracker.size() > 2048 || (!r.tracker.empty() && r.tracker.rfind("http://", 0) != 0 &&
                                    r.tracker.rfind("https://", 0) != 0))
        return fail(p, "tracker must be an http(s) URL");
    const auto files = j->find("files");
    if (files == j->end() || !files->is_array() || files->empty())
        return fail(p, "files must be a non-empty array");
    if (files->size() > kMaxFiles) return fail(p, "files: more than " + std::to_string(kMaxFiles));
    std::set<std::string_view> seen;
    std::uint64_t total = 0;
    r.files.reserve(files->size());
    for (const auto& f : *files) {
        if (!f.is_object()) return fail(p, "files: every entry must be an object");
        File file;
        if (!get(f, "path", file.path, p.error) || !get(f, "size", file.size, p.error)) {
            p.error = "files: " + *p.error;
            return p;
        }
        if (file.path.size() > kMaxPathBytes || !hub::safe_repo_path(file.path))
            return fail(p, "files: unsafe path '" + file.path.substr(0, 200) + "'");
        if (file.size > kMaxTotal - total) return fail(p, "files: the snapshot is too large");
        total += file.size;
        r.files.push_back(std::move(file));
    }
    for (const auto& f : r.files)
        if (!seen.insert(f.path).second) return fail(p, "files: '" + f.path + "' is listed twice");
    return p;
}

Parsed<LeaseRequest> parse_lease(std::string_view body) {
    Parsed<LeaseRequest> p;
    auto j = object(body);
    if (!j) return fail(p, "the body must be a JSON object");
    if (!get(*j, "cohort", p.value.cohort, p.error) || !get(*j, "member", p.value.member, p.error)) return p;
    if (const auto w = j->find("want"); w != j->end()) {
        if (!w->is_boolean()) return fail(p, "want must be true or false");
        p.value.want = w->get<bool>();
    }
    return p;
}

Parsed<ReportRequest> parse_report(std::string_view body) {
    Parsed<ReportRequest> p;
    auto j = object(body);
    if (!j) return fail(p, "the body must be a JSON object");
    auto& r = p.value;
    std::string hashes;
    if (!get(*j, "cohort", r.cohort, p.error) || !get(*j, "member", r.member, p.error) ||
        !get(*j, "path", r.path, p.error) || !get(*j, "first_piece", r.first_piece, p.error) ||
        !get(*j, "hashes", hashes, p.error))
        return p;
    if (hashes.size() > (kMaxHashesPerReport * 32 + 2) / 3 * 4 + 4) return fail(p, "hashes: too many");
    const auto raw = util::base64_decode(hashes);
    if (!raw || raw->empty() || raw->size() % 32 != 0)
        return fail(p, "hashes must be base64 of 32-byte SHA-256 piece hashes");
    r.hashes.resize(raw->size() / 32);
    for (std::size_t i = 0; i < r.hashes.size(); ++i)
        std::copy_n(reinterpret_cast<const unsigned char*>(raw->data()) + i * 32, 32, r.hashes[i].begin());
    return p;
}

std::optional<Answer> parse_answer(std::string_view body) {
    auto j = object(body);
    if (!j) return std::nullopt;
    Answer a;
    std::optional<std::string> err;
    std::string state;
    if (!get(*j, "state", state, err)) return std::nullopt;
    if (state == "fetching") a.state = State::fetching;
    else if (state == "assembling") a.state = State::assembling;
    else if (state == "published") a.state = State::published;
    else if (state == "failed") a.state = State::failed;
    else return std::nullopt;
    get(*j, "cohort", a.cohort, err, false);
    get(*j, "member", a.member, err, false);
    get(*j, "info_hash", a.info_hash, err, false);
    get(*j, "error", a.error, err, false);
    const auto num = [&](const char* k) -> std::uint64_t {
        const auto it = j->find(k);
        return it != j->end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
    };
    a.piece_length = num("piece_length");
    a.lease_seconds = static_cast<int>(std::min<std::uint64_t>(num("lease_seconds"), 3600));
    a.remaining = num("remaining");
    a.members = num("members");
    if (const auto c = j->find("chunk"); c != j->end() && c->is_object()) {
        Chunk chunk;
        std::optional<std::string> e;
        if (!get(*c, "path", chunk.path, e) || !get(*c, "first_piece", chunk.first_piece, e) ||
            !get(*c, "pieces", chunk.pieces, e) || !get(*c, "offset", chunk.offset, e) ||
            !get(*c, "length", chunk.length, e))
            return std::nullopt;
        a.chunk = std::move(chunk);
    }
    return a;
}

} // namespace llmpt::tracker::cohort
