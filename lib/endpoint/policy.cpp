#include "endpoint/policy.hpp"

#include <llmpt/download.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

namespace llmpt::endpoint {

bool pinned_revision(std::string_view revision) {
    if (revision.size() != 40) return false;
    for (const char c : revision)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

CacheUse cache_use(bool pinned, std::chrono::seconds age, std::chrono::seconds branch_ttl) {
    if (pinned) return CacheUse::first;
    if (age >= std::chrono::seconds(0) && age < branch_ttl) return CacheUse::if_upstream_down;
    return CacheUse::no;
}

namespace {

// Weight formats a repo may carry side by side (huggingface_hub's and
// transformers' names for them).
constexpr std::array<std::string_view, 10> kWeightExtensions = {
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".ot", ".tflite"};

std::string_view extension(std::string_view path) {
    const auto slash = path.rfind('/');
    const auto name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    const auto dot = name.rfind('.');
    return dot == std::string_view::npos || dot == 0 ? std::string_view() : name.substr(dot);
}

} // namespace

bool Selection::covers(const std::string& path) const {
    for (const auto& f : files)
        if (f == path) return true;
    if (!files.empty() && include.empty()) return false;
    return path_selected(path, include, exclude);
}

Selection selection_for(const std::string& path, const std::optional<std::set<std::string>>& formats) {
    const auto ext = extension(path);
    if (ext == ".gguf") return Selection{{path}, {}, {}};
    std::string keep(ext);
    const bool weight = std::find(kWeightExtensions.begin(), kWeightExtensions.end(), ext) != kWeightExtensions.end();
    if (!weight && formats) {
        if (formats->size() == 1) keep = *formats->begin();
        else if (formats->count(".safetensors")) keep = ".safetensors";
    }
    Selection s;
    s.exclude.push_back("*.gguf");
    for (const auto w : kWeightExtensions)
        if (w != keep) s.exclude.push_back("*" + std::string(w));
    return s;
}

std::set<std::string> weight_formats(const std::vector<std::string>& paths) {
    std::set<std::string> out;
    for (const auto& p : paths) {
        const auto ext = extension(p);
        if (std::find(kWeightExtensions.begin(), kWeightExtensions.end(), ext) != kWeightExtensions.end())
            out.emplace(ext);
    }
    return out;
}

std::optional<std::vector<std::string>> listed_paths(bool revision, const std::string& body) {
    const auto j = nlohmann::json::parse(body, nullptr, false);
    const nlohmann::json* list = nullptr;
    if (revision && j.is_object() && j.contains("siblings")) list = &j["siblings"];
    if (!revision) list = &j;
    if (!list || !list->is_array()) return std::nullopt;
    std::vector<std::string> out;
    for (const auto& e : *list) {
        if (!e.is_object()) return std::nullopt;
        const char* key = revision ? "rfilename" : "path";
        if (!revision && e.value("type", "") != "file") continue;
        if (!e.contains(key) || !e[key].is_string()) return std::nullopt;
        out.push_back(e[key].get<std::string>());
    }
    return out;
}

namespace {

std::string header(const std::map<std::string, std::string>& h, const std::string& name) {
    const auto it = h.find(name);
    return it == h.end() ? std::string() : it->second;
}

std::optional<std::uint64_t> parse_size(const std::string& s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    std::uint64_t v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
}

} // namespace

FileMeta file_meta(const std::map<std::string, std::string>& h) {
    FileMeta m;
    m.commit = header(h, "x-repo-commit");
    const auto linked = header(h, "x-linked-etag");
    m.etag = Etag::parse(linked.empty() ? header(h, "etag") : linked);
    const auto linked_size = header(h, "x-linked-size");
    m.size = parse_size(linked_size.empty() ? header(h, "content-length") : linked_size);
    static constexpr std::array<std::pair<const char*, const char*>, 4> kept = {
        {{"x-repo-commit", "X-Repo-Commit"}, {"etag", "ETag"}, {"x-linked-etag", "X-Linked-Etag"},
         {"x-linked-size", "X-Linked-Size"}}};
    for (const auto& [lower, name] : kept)
        if (const auto v = header(h, lower); !v.empty()) m.headers.emplace_back(name, v);
    return m;
}

bool whole_tree(std::string_view target, const std::map<std::string, std::string>& headers) {
    const auto q = target.find('?');
    if (q == std::string_view::npos) return false;
    bool recursive = false;
    for (auto query = target.substr(q + 1); !query.empty();) {
        const auto amp = query.find('&');
        const auto param = query.substr(0, amp);
        if (param == "recursive=true" || param == "recursive=True" || param == "recursive=1") recursive = true;
        if (param.starts_with("cursor=")) return false;
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    const auto link = header(headers, "link");
    return recursive && link.find("rel=\"next\"") == std::string::npos;
}

std::map<std::string, std::string> listed_file_headers(const CommitId& commit, const Etag& etag, std::uint64_t size) {
    const auto quoted = "\"" + etag.str() + "\"";
    std::map<std::string, std::string> h{{"x-repo-commit", commit.str()}, {"etag", quoted}};
    if (etag.kind() == Etag::Kind::sha256) {
        h["x-linked-etag"] = quoted;
        h["x-linked-size"] = std::to_string(size);
    } else {
        h["content-length"] = std::to_string(size);
    }
    return h;
}

std::string listed_revision_body(const std::string& repo_id, const CommitId& commit,
                                 const std::vector<std::string>& paths) {
    auto siblings = nlohmann::json::array();
    for (const auto& p : paths) siblings.push_back({{"rfilename", p}});
    return nlohmann::json{{"id", repo_id}, {"sha", commit.str()}, {"siblings", siblings}}.dump();
}

std::vector<std::pair<std::string, std::string>> passed_headers(const std::map<std::string, std::string>& h,
                                                                 const std::string& upstream_base,
                                                                 const std::string& our_base) {
    static constexpr std::array<std::pair<const char*, const char*>, 9> kept = {
        {{"content-type", "Content-Type"}, {"x-error-code", "X-Error-Code"}, {"x-error-message", "X-Error-Message"},
         {"x-repo-commit", "X-Repo-Commit"}, {"etag", "ETag"}, {"x-linked-etag", "X-Linked-Etag"},
         {"x-linked-size", "X-Linked-Size"}, {"x-total-count", "X-Total-Count"}, {"link", "Link"}}};
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [lower, name] : kept) {
        auto v = header(h, lower);
        if (v.empty()) continue;
        if (std::string_view(lower) == "link") {
            // Only pagination: a Xet link (rel="xet-auth") would send the client elsewhere.
            if (v.find("rel=\"next\"") == std::string::npos) continue;
            for (auto at = v.find(upstream_base); at != std::string::npos && !upstream_base.empty();
                 at = v.find(upstream_base, at + our_base.size()))
                v.replace(at, upstream_base.size(), our_base);
        }
        out.emplace_back(name, std::move(v));
    }
    return out;
}

} // namespace llmpt::endpoint
