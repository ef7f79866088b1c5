// The JSON forms of download events and results: what `llmpt download
// --events/--json` prints and what the daemon's control API carries.
#include "download/json.hpp"

namespace llmpt {

using json = nlohmann::json;

namespace {

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

std::optional<json> parse_object(std::string_view text) {
    auto j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    return j;
}

} // namespace

json to_json_value(const Event& e) {
    return std::visit(
        overloaded{
            [](const PlanEvent& p) {
                return json{{"event", "plan"},          {"commit", p.commit.str()},
                            {"files", p.files_total},   {"files_cached", p.files_cached},
                            {"bytes_total", p.bytes_total}, {"bytes_cached", p.bytes_cached}};
            },
            [](const ProgressEvent& p) {
                return json{{"event", "progress"}, {"bytes_done", p.bytes_done}, {"bytes_total", p.bytes_total},
                            {"rate", p.rate},      {"active", p.active}};
            },
            [](const FileReadyEvent& f) {
                return json{{"event", "file"}, {"path", f.path}, {"local_path", f.local_path}, {"size", f.size}};
            },
            [](const WarningEvent& w) { return json{{"event", "warning"}, {"message", w.message}}; },
        },
        e);
}

std::string to_json(const Event& e) { return to_json_value(e).dump(); }

std::optional<Event> event_from_json(std::string_view text) {
    const auto j = parse_object(text);
    if (!j) return std::nullopt;
    try {
        const auto kind = j->value("event", std::string());
        if (kind == "plan") {
            const auto commit = CommitId::parse(j->value("commit", std::string()));
            if (!commit) return std::nullopt;
            return PlanEvent{*commit, j->value("files", std::size_t{0}),
                             j->value("files_cached", std::size_t{0}), j->value("bytes_total", std::uint64_t{0}),
                             j->value("bytes_cached", std::uint64_t{0})};
        }
        if (kind == "progress")
            return ProgressEvent{j->value("bytes_done", std::uint64_t{0}), j->value("bytes_total", std::uint64_t{0}),
                                 j->value("rate", 0.0), j->value("active", std::vector<std::string>{})};
        if (kind == "file")
            return FileReadyEvent{j->value("path", std::string()), j->value("local_path", std::string()),
                                  j->value("size", std::uint64_t{0})};
        if (kind == "warning") return WarningEvent{j->value("message", std::string())};
    } catch (const json::exception&) { // a field of the wrong type
    }
    return std::nullopt;
}

json to_json_value(const DownloadResult& r) {
    return json{{"repo", r.repo},
                {"commit", r.commit ? r.commit->str() : ""},
                {"path", r.path.string()},
                {"files", r.files},
                {"bytes_total", r.bytes_total},
                {"bytes_p2p", r.bytes_p2p},
                {"bytes_webseed", r.bytes_webseed},
                {"bytes_http", r.bytes_http},
                {"bytes_cached", r.bytes_cached},
                {"bytes_share", r.bytes_share},
                {"seconds", r.seconds}};
}

std::string to_json(const DownloadResult& r) { return to_json_value(r).dump(); }

std::optional<DownloadResult> result_from_json(std::string_view text) {
    const auto j = parse_object(text);
    if (!j) return std::nullopt;
    try {
        DownloadResult r;
        r.repo = j->value("repo", std::string());
        if (const auto commit = j->value("commit", std::string()); !commit.empty()) {
            r.commit = CommitId::parse(commit);
            if (!r.commit) return std::nullopt;
        }
        r.path = j->value("path", std::string());
        r.files = j->value("files", std::size_t{0});
        r.bytes_total = j->value("bytes_total", std::uint64_t{0});
        r.bytes_p2p = j->value("bytes_p2p", std::uint64_t{0});
        r.bytes_webseed = j->value("bytes_webseed", std::uint64_t{0});
        r.bytes_http = j->value("bytes_http", std::uint64_t{0});
        r.bytes_cached = j->value("bytes_cached", std::uint64_t{0});
        r.bytes_share = j->value("bytes_share", std::uint64_t{0});
        r.seconds = j->value("seconds", 0.0);
        return r;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

} // namespace llmpt
