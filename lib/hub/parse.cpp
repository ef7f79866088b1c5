// Parsing of Hub answers. Outside JSON is parsed without exceptions and every
// field is type-checked: a malformed answer is an Error, never a crash.
#include "hub/hub.hpp"

#include "http/retry.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <set>

namespace llmpt::hub {

using nlohmann::json;

bool safe_repo_path(std::string_view path) {
    if (path.empty() || path.size() > 4096 || path.front() == '/') return false;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        const auto seg = path.substr(start, end - start);
        if (seg.empty() || seg == "." || seg == ".." || seg.size() > 255) return false;
        start = end + 1;
    }
    for (unsigned char c : path)
        if (c < 0x20 || c == 0x7f || c == '\\') return false;
    return true;
}

Result<CommitId> parse_revision_answer(const std::string& body) {
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return Error(errc::failure, "malformed revision answer from the Hub: not a JSON object");
    const auto it = j.find("sha");
    if (it == j.end() || !it->is_string())
        return Error(errc::failure, "malformed revision answer from the Hub: no \"sha\"");
    auto c = CommitId::parse(it->get<std::string>());
    if (!c) return Error(errc::failure, "malformed revision answer from the Hub: bad sha",
                         it->get<std::string>());
    return *c;
}

namespace {

std::optional<std::uint64_t> get_u64(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<std::uint64_t>();
}

std::optional<std::string> get_str(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

} // namespace

Result<std::vector<RemoteFile>> parse_file_list(const std::string& body) {
    const auto bad = [](std::string why) {
        return Error(errc::failure, "malformed file list from the Hub: " + std::move(why));
    };
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_array()) return bad("not a JSON array");
    std::vector<RemoteFile> out;
    std::set<std::string> seen;
    for (const auto& e : j) {
        if (!e.is_object()) return bad("entry is not an object");
        const auto type = get_str(e, "type");
        if (type && *type != "file") continue;
        auto path = get_str(e, "path");
        auto size = get_u64(e, "size");
        auto oid = get_str(e, "oid");
        if (!path || !size || !oid) return bad("entry without path, size or oid");
        if (!safe_repo_path(*path)) return bad("unsafe path '" + *path + "'");
        if (!seen.insert(*path).second) return bad("duplicate path '" + *path + "'");
        std::optional<Etag> etag;
        bool lfs_file = false;
        if (auto lfs = e.find("lfs"); lfs != e.end() && lfs->is_object()) {
            auto sha = get_str(*lfs, "oid");
            if (!sha) sha = get_str(*lfs, "sha256");
            auto lsize = get_u64(*lfs, "size");
            if (!sha || (lsize && *lsize != *size)) return bad("bad lfs entry for '" + *path + "'");
            etag = Etag::parse(*sha);
            if (!etag || etag->kind() != Etag::Kind::sha256)
                return bad("bad lfs sha256 for '" + *path + "'");
            lfs_file = true;
        } else {
            etag = Etag::parse(*oid);
            if (!etag || etag->kind() != Etag::Kind::git_sha1)
                return bad("bad oid for '" + *path + "'");
        }
        RemoteFile f{*path, *size, *etag, lfs_file};
        out.push_back(std::move(f));
    }
    return out;
}

Result<RemoteFile> parse_file_headers(const http::Headers& h, const std::string& path) {
    const auto get = [&](const char* k) {
        auto it = h.find(k);
        return it == h.end() ? std::string() : it->second;
    };
    const auto linked = get("x-linked-etag");
    const auto etag = Etag::parse(linked.empty() ? get("etag") : linked);
    const auto size_text = linked.empty() ? get("content-length") : get("x-linked-size");
    char* end = nullptr;
    const auto size = std::strtoull(size_text.c_str(), &end, 10);
    if (!etag || size_text.empty() || *end != '\0')
        return Error(errc::failure, "the Hub's answer for " + path + " lacks an ETag or a size");
    return RemoteFile{path, size, *etag, etag->kind() == Etag::Kind::sha256};
}

std::optional<std::string> next_link(const http::Headers& headers) {
    const auto it = headers.find("link");
    if (it == headers.end()) return std::nullopt;
    const std::string& v = it->second;
    // <url>; rel="next", <url>; rel="prev"
    std::size_t pos = 0;
    while ((pos = v.find('<', pos)) != std::string::npos) {
        const auto close = v.find('>', pos);
        if (close == std::string::npos) break;
        const auto next_part = v.find(',', close);
        const auto params = v.substr(close + 1, next_part == std::string::npos
                                                    ? std::string::npos
                                                    : next_part - close - 1);
        if (params.find("rel=\"next\"") != std::string::npos ||
            params.find("rel=next") != std::string::npos)
            return v.substr(pos + 1, close - pos - 1);
        pos = close;
    }
    return std::nullopt;
}

Error error_from_response(int status, const http::Headers& headers, const RepoRef& repo,
                          const std::string& what, bool have_token) {
    std::string code;
    if (auto it = headers.find("x-error-code"); it != headers.end()) code = it->second;
    const std::string name = std::string(to_string(repo.type)) + " " + repo.id.str();
    const std::string token_hint =
        have_token ? "the token was refused" : "pass --token or set HF_TOKEN";
    if (code == "GatedRepo")
        return Error(errc::auth, "access to " + name + " is gated: " + token_hint, what);
    if (code == "RepoNotFound") {
        if (status == 401 && !have_token)
            return Error(errc::not_found,
                         name + " not found (if it is private, pass --token or set HF_TOKEN)", what);
        return Error(errc::not_found, name + " not found", what);
    }
    if (code == "RevisionNotFound") return Error(errc::not_found, "revision not found in " + name, what);
    if (code == "EntryNotFound") return Error(errc::not_found, "file not found in " + name, what);
    if (status == 401 || status == 403)
        return Error(errc::auth, fmt::format("access to {} refused (HTTP {}): {}", name, status, token_hint), what);
    if (status == 404) return Error(errc::not_found, name + ": not found (HTTP 404)", what);
    if (http::retryable_status(status))
        return Error(errc::network, "the Hub kept failing (HTTP " + std::to_string(status) + ")", what);
    return Error(errc::failure, "unexpected HTTP " + std::to_string(status) + " from the Hub", what);
}

} // namespace llmpt::hub
