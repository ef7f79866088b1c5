#include "serve/routes.hpp"

#include "hub/hub.hpp"
#include "util/url.hpp"

#include <charconv>

namespace llmpt::serve {
namespace {

std::optional<std::vector<std::string>> decoded_segments(const std::string& raw) {
    std::vector<std::string> out;
    std::size_t start = 1; // skip the leading '/'
    if (raw.empty() || raw[0] != '/') return std::nullopt;
    while (start <= raw.size()) {
        auto end = raw.find('/', start);
        if (end == std::string::npos) end = raw.size();
        auto seg = util::url_decode(std::string_view(raw).substr(start, end - start));
        if (!seg) return std::nullopt;
        out.push_back(std::move(*seg));
        start = end + 1;
    }
    if (!out.empty() && out.back().empty()) out.pop_back(); // trailing '/'
    return out;
}

std::optional<RepoType> type_from_plural(const std::string& s) {
    if (s == "models") return RepoType::model;
    if (s == "datasets") return RepoType::dataset;
    if (s == "spaces") return RepoType::space;
    return std::nullopt;
}

std::string join(const std::vector<std::string>& segs, std::size_t from) {
    std::string out;
    for (std::size_t i = from; i < segs.size(); ++i) {
        if (i > from) out += '/';
        out += segs[i];
    }
    return out;
}

// The repo is one or two segments before a keyword: find which.
std::optional<std::size_t> keyword_at(const std::vector<std::string>& s, std::size_t repo_start,
                                      const std::string& kw) {
    for (std::size_t n = 1; n <= 2; ++n)
        if (s.size() > repo_start + n && s[repo_start + n] == kw) return repo_start + n;
    return std::nullopt;
}

std::optional<Parsed> parse_api(const std::vector<std::string>& s, const std::string& method) {
    // /api/{type}s/{repo}/{revision|tree|paths-info}/{rev}[/{path}]
    if (s.size() < 3) return std::nullopt;
    const auto type = type_from_plural(s[1]);
    if (!type) return std::nullopt;
    Parsed p;
    p.type = *type;
    for (const auto& [kw, route] : {std::pair{"revision", Route::revision}, std::pair{"tree", Route::tree},
                                    std::pair{"paths-info", Route::paths_info}}) {
        const auto at = keyword_at(s, 2, kw);
        if (!at || s.size() <= *at + 1) continue;
        p.route = route;
        p.repo = join({s.begin() + 2, s.begin() + static_cast<long>(*at)}, 0);
        p.revision = s[*at + 1];
        p.path = join(s, *at + 2);
        if (route == Route::revision && !p.path.empty()) return std::nullopt;
        if (route == Route::paths_info && (method != "POST" || !p.path.empty())) return std::nullopt;
        if (route != Route::paths_info && method != "GET" && method != "HEAD") return std::nullopt;
        if (!p.path.empty() && !hub::safe_repo_path(p.path)) return std::nullopt;
        return p;
    }
    // /api/{type}s/{repo}: the repo's info at main.
    if ((s.size() == 3 || s.size() == 4) && (method == "GET" || method == "HEAD")) {
        p.route = Route::revision;
        p.repo = join(s, 2);
        p.revision = "main";
        return p;
    }
    return std::nullopt;
}

} // namespace

std::optional<Parsed> parse_route(const std::string& method, const std::string& raw_path) {
    const auto segs = decoded_segments(raw_path);
    if (!segs || segs->empty()) return std::nullopt;
    for (const auto& seg : *segs)
        if (seg == ".." || seg == "." || seg.find('\0') != std::string::npos) return std::nullopt;
    const auto& s = *segs;
    if (s[0] == "api") return parse_api(s, method);
    if (method != "GET" && method != "HEAD") return std::nullopt;
    if (s[0] == "_cdn") {
        if (s.size() != 3) return std::nullopt;
        Parsed p;
        p.route = Route::cdn;
        p.cdn_folder = s[1];
        p.cdn_etag = s[2];
        return p;
    }
    // /{repo}/resolve/{rev}/{path}, /datasets/{repo}/..., /spaces/{repo}/...
    Parsed p;
    p.route = Route::resolve;
    std::size_t repo_start = 0;
    if (s[0] == "datasets" || s[0] == "spaces") {
        p.type = *type_from_plural(s[0]);
        repo_start = 1;
    }
    const auto at = keyword_at(s, repo_start, "resolve");
    // A one-segment repo named like a type keyword is ambiguous; prefer the typed form.
    if (!at || s.size() < *at + 3) return std::nullopt;
    p.repo = join({s.begin() + static_cast<long>(repo_start), s.begin() + static_cast<long>(*at)}, 0);
    p.revision = s[*at + 1];
    p.path = join(s, *at + 2);
    if (!hub::safe_repo_path(p.path)) return std::nullopt;
    return p;
}

std::optional<RangeSpec> parse_range(const std::string& header, std::uint64_t size) {
    const std::string_view prefix = "bytes=";
    if (header.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
    std::string_view spec = std::string_view(header).substr(prefix.size());
    // An empty file has no byte to give: every range is unsatisfiable.
    if (size == 0) return std::nullopt;
    if (spec.find(',') != std::string_view::npos) return RangeSpec{0, size - 1};
    const auto dash = spec.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    const auto num = [](std::string_view t, std::uint64_t& v) {
        if (t.empty() || t.size() > 19) return false;
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        return ec == std::errc() && p == t.data() + t.size();
    };
    std::uint64_t a = 0, b = 0;
    const auto left = spec.substr(0, dash), right = spec.substr(dash + 1);
    if (left.empty()) { // suffix: the last n bytes
        if (!num(right, b) || b == 0) return std::nullopt;
        return RangeSpec{b >= size ? 0 : size - b, size - 1};
    }
    if (!num(left, a) || a >= size) return std::nullopt;
    if (right.empty()) return RangeSpec{a, size - 1};
    if (!num(right, b) || b < a) return std::nullopt;
    return RangeSpec{a, std::min(b, size - 1)};
}

} // namespace llmpt::serve
