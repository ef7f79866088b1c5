#include "tracker/server/announce.hpp"

#include "util/url.hpp"

#include <charconv>

namespace llmpt::tracker {

namespace {

template <class F>
bool for_each_param(const std::string& q, F&& f) {
    std::size_t start = 0;
    while (start < q.size()) {
        auto end = q.find('&', start);
        if (end == std::string::npos) end = q.size();
        const std::string_view part(q.data() + start, end - start);
        const auto eq = part.find('=');
        const auto key = part.substr(0, eq);
        const auto raw = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
        // Query strings are form-encoded: '+' is a space (an info_hash byte 0x20).
        std::string plus_as_space(raw);
        for (auto& c : plus_as_space)
            if (c == '+') c = ' ';
        auto value = util::url_decode(plus_as_space);
        if (!value) return false;
        f(key, *value);
        start = end + 1;
    }
    return true;
}

bool to_u64(const std::string& s, std::uint64_t& v) {
    if (s.empty() || s.size() > 20) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
}

Error bad(std::string reason) { return Error(errc::usage, std::move(reason)); }

} // namespace

Result<AnnounceRequest> parse_announce(const std::string& q, int max_numwant) {
    AnnounceRequest r;
    bool have_hash = false, have_peer = false, have_port = false, numbers_ok = true;
    std::string event;
    const bool decoded = for_each_param(q, [&](std::string_view k, std::string& v) {
        std::uint64_t n = 0;
        if (k == "info_hash") { r.info_hash = std::move(v); have_hash = true; }
        else if (k == "peer_id") { r.peer_id = std::move(v); have_peer = true; }
        else if (k == "port") { have_port = to_u64(v, n) && n > 0 && n < 65536; r.port = static_cast<std::uint16_t>(n); }
        else if (k == "uploaded") numbers_ok &= to_u64(v, r.uploaded);
        else if (k == "downloaded") numbers_ok &= to_u64(v, r.downloaded);
        else if (k == "left") {
            numbers_ok &= to_u64(v, n);
            r.left = n;
        }
        else if (k == "numwant") {
            numbers_ok &= to_u64(v, n);
            r.numwant = static_cast<int>(std::min<std::uint64_t>(n, static_cast<std::uint64_t>(max_numwant)));
        }
        else if (k == "compact") r.compact = v != "0";
        else if (k == "event") event = v;
        else if (k == "ip") r.ip = v;
    });
    if (!decoded) return bad("malformed query string");
    if (!have_hash || r.info_hash.size() != 20) return bad("info_hash must be 20 bytes");
    if (!have_peer || r.peer_id.size() != 20) return bad("peer_id must be 20 bytes");
    if (!have_port) return bad("port must be 1-65535");
    if (!numbers_ok) return bad("uploaded, downloaded, left and numwant must be numbers");
    if (event.empty() || event == "empty") r.event = Event::none;
    else if (event == "started") r.event = Event::started;
    else if (event == "completed") r.event = Event::completed;
    else if (event == "stopped") r.event = Event::stopped;
    else return bad("unknown event '" + event + "'");
    return r;
}

Result<std::vector<std::string>> parse_scrape(const std::string& q, std::size_t max_hashes) {
    std::vector<std::string> hashes;
    bool ok_sizes = true;
    const bool decoded = for_each_param(q, [&](std::string_view k, std::string& v) {
        if (k != "info_hash") return;
        if (v.size() != 20) ok_sizes = false;
        hashes.push_back(std::move(v));
    });
    if (!decoded) return bad("malformed query string");
    if (!ok_sizes) return bad("info_hash must be 20 bytes");
    if (hashes.empty()) return bad("info_hash is required");
    if (hashes.size() > max_hashes) return bad("too many info_hash values");
    return hashes;
}

} // namespace llmpt::tracker
