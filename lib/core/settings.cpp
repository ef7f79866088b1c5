// Settings::from_env(): the HF_* and LLMPT_* environment (docs/design.md, "Environment").
#include <llmpt/settings.hpp>

#include "util/url.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace llmpt {
namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

// A whole number of seconds from `min` to a day in `name`, into `out`; else
// a problem named and `out` kept.
void env_seconds(const char* name, long min, std::chrono::seconds& out, std::vector<std::string>& problems) {
    const auto v = env(name);
    if (v.empty()) return;
    char* end = nullptr;
    const long secs = std::strtol(v.c_str(), &end, 10);
    if (end && *end == '\0' && secs >= min && secs <= 86400)
        out = std::chrono::seconds(secs);
    else
        problems.push_back(fmt::format("{} must be seconds from {} to 86400, not '{}'", name, min, v));
}

std::string trim(std::string s) {
    const auto ws = " \t\r\n";
    s.erase(0, s.find_first_not_of(ws));
    s.erase(s.find_last_not_of(ws) + 1);
    return s;
}

std::filesystem::path hf_home() {
    if (auto h = env("HF_HOME"); !h.empty()) return h;
    if (auto x = env("XDG_CACHE_HOME"); !x.empty()) return std::filesystem::path(x) / "huggingface";
    return std::filesystem::path(env("HOME")) / ".cache" / "huggingface";
}

bool truthy(const std::string& v) {
    return v == "1" || v == "ON" || v == "on" || v == "YES" || v == "yes" || v == "TRUE" ||
           v == "true";
}

} // namespace

std::optional<DiskIo> parse_disk_io(std::string_view name) {
    if (name == "pooled") return DiskIo::pooled;
    if (name == "queued") return DiskIo::queued;
    if (name == "posix") return DiskIo::posix;
    if (name == "mmap") return DiskIo::mmap;
    return std::nullopt;
}

std::optional<PieceOrder> parse_piece_order(std::string_view name) {
    if (name == "auto") return PieceOrder::automatic;
    if (name == "rarest-first") return PieceOrder::rarest_first;
    if (name == "in-order") return PieceOrder::in_order;
    return std::nullopt;
}

std::filesystem::path default_cache_dir() {
    if (auto v = env("HF_HUB_CACHE"); !v.empty()) return v;
    if (auto v = env("HUGGINGFACE_HUB_CACHE"); !v.empty()) return v;
    return hf_home() / "hub";
}

Settings Settings::from_env() {
    Settings s;
    if (auto v = env("HF_ENDPOINT"); !v.empty()) s.endpoint = v;
    s.endpoint = util::trim_trailing_slashes(s.endpoint);

    s.token = env("HF_TOKEN");
    if (s.token.empty()) s.token = env("HUGGING_FACE_HUB_TOKEN");
    if (s.token.empty()) {
        std::ifstream in(hf_home() / "token");
        if (in) s.token = trim(std::string(std::istreambuf_iterator<char>(in), {}));
    }
    s.token = trim(s.token);

    s.cache_dir = default_cache_dir();
    s.offline = truthy(env("HF_HUB_OFFLINE"));
    if (auto v = env("LLMPT_P2P_DISK_IO"); !v.empty()) {
        if (auto io = parse_disk_io(v)) s.p2p_disk_io = *io;
        else s.env_problems.push_back("LLMPT_P2P_DISK_IO must be pooled, queued, posix or mmap, not '" + v + "'; using pooled");
    }
    if (auto v = env("LLMPT_P2P_SEED_DISPATCH"); !v.empty()) s.p2p_seed_dispatch = truthy(v);
    if (auto v = env("LLMPT_P2P_WAKE_IDLE"); !v.empty()) s.p2p_wake_idle = truthy(v);
    if (auto v = env("LLMPT_P2P_COHORT"); !v.empty()) s.p2p_cohort = truthy(v);
    // huggingface_hub's read timeout for file downloads: ours is a transfer
    // below 1 KiB/s for that long.
    if (auto v = env("HF_HUB_DOWNLOAD_TIMEOUT"); !v.empty()) {
        char* end = nullptr;
        const double secs = std::strtod(v.c_str(), &end);
        if (end && *end == '\0' && secs >= 1 && secs <= 86400)
            s.stall_timeout = std::chrono::seconds(static_cast<long>(secs));
        else
            s.env_problems.push_back("HF_HUB_DOWNLOAD_TIMEOUT must be seconds from 1 to 86400, not '" + v + "'");
    }
    // The longest wait a rate-limiting server may ask for (Retry-After,
    // RateLimit) before a request gives up instead.
    env_seconds("LLMPT_MAX_SERVER_WAIT", 0, s.max_server_wait, s.env_problems);
    // What --no-webseed and --p2p-timeout set, for downloads that have no
    // command line: a daemon's tasks, its HF endpoint's downloads.
    if (auto v = env("LLMPT_WEBSEED"); !v.empty()) s.webseed = truthy(v);
    env_seconds("LLMPT_P2P_TIMEOUT", 1, s.p2p_timeout, s.env_problems);
    s.publish_token = env("LLMPT_PUBLISH_TOKEN");
    s.p2p_log = env("LLMPT_P2P_LOG");
    if (auto v = env("LLMPT_P2P_PIECE_ORDER"); !v.empty()) {
        if (auto o = parse_piece_order(v)) s.p2p_piece_order = *o;
        else s.env_problems.push_back("LLMPT_P2P_PIECE_ORDER must be auto, rarest-first or in-order, not '" + v + "'");
    }
    if (auto v = env("LLMPT_LIBTORRENT_SETTINGS"); !v.empty()) {
        std::size_t start = 0;
        while (start <= v.size()) {
            auto end = v.find(',', start);
            if (end == std::string::npos) end = v.size();
            const auto item = trim(v.substr(start, end - start));
            const auto eq = item.find('=');
            if (!item.empty() && (eq == std::string::npos || eq == 0))
                s.env_problems.push_back("LLMPT_LIBTORRENT_SETTINGS: '" + item + "' is not name=value; ignored");
            else if (!item.empty())
                s.p2p_libtorrent.emplace_back(trim(item.substr(0, eq)), trim(item.substr(eq + 1)));
            start = end + 1;
        }
    }
    s.tracker = env("LLMPT_TRACKER");
    if (s.tracker.empty()) s.tracker = env("HF_P2P_TRACKER");
    return s;
}

} // namespace llmpt
