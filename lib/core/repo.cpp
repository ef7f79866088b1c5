// Parsing and naming of repo ids, commits and etags.
#include <llmpt/repo.hpp>

#include <algorithm>
#include <cctype>

namespace llmpt {

bool is_hex(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

std::string_view to_string(RepoType t) noexcept {
    switch (t) {
    case RepoType::model: return "model";
    case RepoType::dataset: return "dataset";
    case RepoType::space: return "space";
    }
    return "model";
}

std::optional<RepoType> parse_repo_type(std::string_view s) {
    if (s == "model") return RepoType::model;
    if (s == "dataset") return RepoType::dataset;
    if (s == "space") return RepoType::space;
    return std::nullopt;
}

namespace {

bool valid_segment(std::string_view seg) {
    if (seg.empty() || seg == "." || seg == ".." || seg.find("--") != std::string_view::npos)
        return false;
    if (seg.front() == '-' || seg.front() == '.' || seg.back() == '-' || seg.back() == '.')
        return false;
    return std::all_of(seg.begin(), seg.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    });
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

} // namespace

Result<RepoId> RepoId::parse(std::string_view s) {
    const auto bad = [&](const char* why) {
        return Error(errc::usage, std::string("invalid repo id: ") + why, std::string(s));
    };
    if (s.empty() || s.size() > 96) return bad("must be 1 to 96 characters");
    const auto slash = s.find('/');
    if (slash != std::string_view::npos) {
        if (s.find('/', slash + 1) != std::string_view::npos) return bad("at most one '/'");
        if (!valid_segment(s.substr(0, slash)) || !valid_segment(s.substr(slash + 1)))
            return bad("use letters, digits, '-', '_', '.' as 'org/name'");
    } else if (!valid_segment(s)) {
        return bad("use letters, digits, '-', '_', '.'");
    }
    return RepoId(std::string(s));
}

std::string RepoRef::folder_name() const {
    std::string out = std::string(to_string(type)) + "s--";
    for (char c : id.str()) {
        if (c == '/') out += "--";
        else out += c;
    }
    return out;
}

std::string RepoRef::api_path() const {
    return std::string(to_string(type)) + "s/" + id.str();
}

std::optional<CommitId> CommitId::parse(std::string_view s) {
    if (s.size() != 40 || !is_hex(s)) return std::nullopt;
    return CommitId(lower(s));
}

std::optional<InfoHash> InfoHash::parse(std::string_view v2, std::string_view v1) {
    if (v2.size() != 64 || !is_hex(v2)) return std::nullopt;
    if (!v1.empty() && (v1.size() != 40 || !is_hex(v1))) return std::nullopt;
    return InfoHash(lower(v2), lower(v1));
}

std::optional<Etag> Etag::parse(std::string_view s) {
    if (s.substr(0, 2) == "W/") s.remove_prefix(2);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    if ((s.size() != 40 && s.size() != 64) || !is_hex(s)) return std::nullopt;
    return Etag(lower(s));
}

} // namespace llmpt
