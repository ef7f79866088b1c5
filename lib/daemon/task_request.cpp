// TaskRequest: a download as the JSON body of POST /v1/tasks, TaskState's
// names, and follow(): the client side of a task's event stream (Server-Sent
// Events).
#include <llmpt/daemon.hpp>

#include "daemon/tasks.hpp"
#include "http/client.hpp"
#include "util/url.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <set>
#include <type_traits>

namespace llmpt::daemon {

using json = nlohmann::json;

namespace {

Error field_error(const std::string& field, const std::string& why) { return Error(errc::usage, field + ": " + why); }

constexpr std::array<std::string_view, 5> kStateNames{"queued", "running", "done", "failed", "cancelled"};

} // namespace

std::string_view to_string(TaskState s) noexcept { return kStateNames[static_cast<std::size_t>(s)]; }

std::optional<TaskState> parse_task_state(std::string_view s) noexcept {
    for (std::size_t i = 0; i < kStateNames.size(); ++i)
        if (kStateNames[i] == s) return static_cast<TaskState>(i);
    return std::nullopt;
}

bool is_final(TaskState s) noexcept {
    return s == TaskState::done || s == TaskState::failed || s == TaskState::cancelled;
}

json to_json_value(const TaskRequest& r) {
    return json{{"repo", r.repo},
                {"repo_type", to_string(r.repo_type)},
                {"revision", r.revision},
                {"files", r.files},
                {"include", r.include},
                {"exclude", r.exclude},
                {"cache_dir", r.cache_dir},
                {"local_dir", r.local_dir},
                {"endpoint", r.endpoint},
                {"token", r.token},
                {"tracker", r.tracker},
                {"no_p2p", r.no_p2p},
                {"no_webseed", r.no_webseed},
                {"p2p_timeout", r.p2p_timeout},
                {"connections", r.connections},
                {"chunk_size", r.chunk_size}};
}

std::string TaskRequest::to_json() const { return to_json_value(*this).dump(); }

Result<TaskRequest> TaskRequest::parse(std::string_view text) {
    const auto j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return Error(errc::usage, "the body is not JSON");
    return task_request_from(j);
}

Result<TaskRequest> task_request_from(const json& j) {
    if (!j.is_object()) return Error(errc::usage, "the body must be a JSON object");
    TaskRequest r;
    std::string repo_type = std::string(to_string(r.repo_type));
    const auto text_field = [&](const char* name, std::string& out) -> Status {
        if (!j.contains(name)) return ok();
        if (!j[name].is_string()) return field_error(name, "must be a string");
        out = j[name].get<std::string>();
        return ok();
    };
    const auto list_field = [&](const char* name, std::vector<std::string>& out) -> Status {
        if (!j.contains(name)) return ok();
        if (!j[name].is_array()) return field_error(name, "must be an array of strings");
        for (const auto& v : j[name]) {
            if (!v.is_string()) return field_error(name, "must be an array of strings");
            out.push_back(v.get<std::string>());
        }
        return ok();
    };
    const auto bool_field = [&](const char* name, bool& out) -> Status {
        if (!j.contains(name)) return ok();
        if (!j[name].is_boolean()) return field_error(name, "must be true or false");
        out = j[name].get<bool>();
        return ok();
    };
    const auto count_field = [&](const char* name, auto& out, std::uint64_t max) -> Status {
        if (!j.contains(name)) return ok();
        if (!j[name].is_number_unsigned() || j[name].get<std::uint64_t>() > max)
            return field_error(name, "must be a whole number from 0 to " + std::to_string(max));
        out = static_cast<std::remove_reference_t<decltype(out)>>(j[name].get<std::uint64_t>());
        return ok();
    };
    static const std::set<std::string> known = {"repo",     "repo_type",  "revision",  "files",   "include",
                                                "exclude",  "cache_dir",  "local_dir", "endpoint", "token",
                                                "tracker",  "no_p2p",     "no_webseed", "p2p_timeout",
                                                "connections", "chunk_size"};
    for (const auto& [k, _] : j.items())
        if (!known.count(k)) return field_error(k, "unknown field");
    for (const auto& st :
         {text_field("repo", r.repo), text_field("repo_type", repo_type), text_field("revision", r.revision),
          list_field("files", r.files), list_field("include", r.include), list_field("exclude", r.exclude),
          text_field("cache_dir", r.cache_dir), text_field("local_dir", r.local_dir),
          text_field("endpoint", r.endpoint), text_field("token", r.token), text_field("tracker", r.tracker),
          bool_field("no_p2p", r.no_p2p), bool_field("no_webseed", r.no_webseed),
          count_field("p2p_timeout", r.p2p_timeout, 3600), count_field("connections", r.connections, 64),
          count_field("chunk_size", r.chunk_size, 4096)})
        if (!st) return st.error();
    if (r.repo.empty()) return field_error("repo", "required");
    if (auto id = RepoId::parse(r.repo); !id) return field_error("repo", id.error().message);
    const auto type = parse_repo_type(repo_type);
    if (!type) return field_error("repo_type", "must be model, dataset or space");
    r.repo_type = *type;
    if (r.revision.empty()) return field_error("revision", "must not be empty");
    return r;
}

Status TaskRequest::apply(Settings& s, DownloadRequest& d) const {
    if (!cache_dir.empty()) s.cache_dir = cache_dir;
    if (!endpoint.empty()) s.endpoint = endpoint;
    s.endpoint = util::trim_trailing_slashes(s.endpoint);
    if (!token.empty()) s.token = token;
    if (!tracker.empty()) s.tracker = tracker;
    if (no_p2p) s.p2p = false;
    if (no_webseed) s.webseed = false;
    if (p2p_timeout > 0) s.p2p_timeout = std::chrono::seconds(p2p_timeout);
    if (connections > 0) s.http_connections = connections;
    if (chunk_size > 0) s.http_chunk_size = chunk_size << 20;
    d.repo = repo;
    d.repo_type = repo_type;
    d.revision = revision;
    d.files = files;
    d.include = include;
    d.exclude = exclude;
    d.local_dir = local_dir;
    return ok();
}

Status follow(const std::filesystem::path& socket, const std::string& task_id,
              const std::function<void(const TaskEvent&)>& on_event, const std::atomic<bool>* cancel) {
    http::Request req;
    req.url = "http://llmpt/v1/tasks/" + task_id + "/events";
    req.unix_socket = socket.string();
    req.headers.push_back("Accept: text/event-stream");
    req.connect_timeout = std::chrono::seconds(2);
    req.stall_timeout = std::chrono::seconds(0); // a queued task is quiet for as long as it waits
    req.cancel = cancel;
    int status = 0;
    std::string pending, error_body;
    TaskEvent ev;
    req.on_headers = [&](int st, const http::Headers&) {
        status = st;
        return true;
    };
    // SSE frames: "event: NAME" and "data: TEXT" lines, a blank line ends one.
    req.on_body = [&](const char* p, std::size_t n) {
        if (status != 200) {
            if (error_body.size() < 4096) error_body.append(p, std::min<std::size_t>(n, 4096));
            return true;
        }
        pending.append(p, n);
        std::size_t start = 0;
        for (auto nl = pending.find('\n', start); nl != std::string::npos; nl = pending.find('\n', start)) {
            std::string_view line(pending.data() + start, nl - start);
            start = nl + 1;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty()) {
                if (!ev.event.empty() || !ev.data.empty()) on_event(ev);
                ev = {};
            } else if (line.starts_with("event:")) {
                ev.event = std::string(line.substr(line.starts_with("event: ") ? 7 : 6));
            } else if (line.starts_with("data:")) {
                if (!ev.data.empty()) ev.data += '\n';
                ev.data += line.substr(line.starts_with("data: ") ? 6 : 5);
            }
        }
        pending.erase(0, start);
        return pending.size() < (16u << 20);
    };
    auto r = http::perform(req);
    if (!r) return r.error();
    if (status != 200) {
        const auto j = json::parse(error_body, nullptr, false);
        const auto msg = j.is_object() ? j.value("error", std::string()) : std::string();
        return Error(status == 404 ? errc::not_found : errc::failure,
                     "the daemon answered " + std::to_string(status) + (msg.empty() ? "" : ": " + msg));
    }
    return ok();
}

} // namespace llmpt::daemon
