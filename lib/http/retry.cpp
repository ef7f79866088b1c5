#include "http/retry.hpp"

#include <fmt/format.h>
#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <random>
#include <string_view>
#include <thread>

namespace llmpt::http {

RetryPolicy RetryPolicy::from(const Settings& s, WaitNotice on_wait) {
    RetryPolicy p;
    p.max_retries = s.max_retries;
    p.base_delay = s.retry_base_delay;
    p.max_delay = s.retry_max_delay;
    p.max_server_wait = s.max_server_wait;
    p.on_wait = std::move(on_wait);
    return p;
}

bool retryable_status(int status) noexcept {
    // 501 and 505 say "never", not "not now".
    return status == 408 || status == 429 || (status >= 500 && status <= 599 && status != 501 && status != 505);
}

namespace {

constexpr std::int64_t kLongestWait = 366LL * 24 * 3600; // anything longer is "forever"

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// A non-negative decimal integer, the whole of `s`, clamped to kLongestWait.
std::optional<std::int64_t> seconds_value(std::string_view s) {
    s = trim(s);
    if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    if (s.size() > 12) return kLongestWait;
    std::int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return std::min(v, kLongestWait);
}

std::optional<std::int64_t> retry_after(const std::string& value) {
    if (auto v = seconds_value(value)) return v;
    // An HTTP-date: the wait is the time until then.
    const time_t when = curl_getdate(value.c_str(), nullptr);
    if (when == -1) return std::nullopt;
    return std::clamp<std::int64_t>(static_cast<std::int64_t>(when - std::time(nullptr)), 0, kLongestWait);
}

// The longest reset among the exhausted quotas of a RateLimit field: a list
// of items `name;r=N;t=N`, separated by commas.
std::optional<std::int64_t> rate_limit_reset(std::string_view field) {
    std::optional<std::int64_t> longest;
    while (!field.empty()) {
        const auto comma = field.find(',');
        std::string_view item = field.substr(0, comma);
        field = comma == std::string_view::npos ? std::string_view{} : field.substr(comma + 1);
        std::optional<std::int64_t> remaining, reset;
        while (!item.empty()) {
            const auto semi = item.find(';');
            const auto param = trim(item.substr(0, semi));
            item = semi == std::string_view::npos ? std::string_view{} : item.substr(semi + 1);
            const auto eq = param.find('=');
            if (eq == std::string_view::npos) continue;
            const auto key = trim(param.substr(0, eq));
            if (key == "r") remaining = seconds_value(param.substr(eq + 1));
            else if (key == "t") reset = seconds_value(param.substr(eq + 1));
        }
        if (reset && remaining && *remaining == 0) longest = std::max(longest.value_or(0), *reset);
    }
    return longest;
}

} // namespace

std::optional<std::chrono::seconds> server_wait(const Headers& headers) {
    if (auto it = headers.find("retry-after"); it != headers.end())
        if (auto v = retry_after(it->second)) return std::chrono::seconds(*v);
    if (auto it = headers.find("ratelimit"); it != headers.end())
        if (auto v = rate_limit_reset(it->second)) return std::chrono::seconds(*v);
    return std::nullopt;
}

std::chrono::milliseconds retry_delay(const RetryPolicy& p, int attempt, const Headers& headers) {
    using namespace std::chrono;
    if (auto wait = server_wait(headers)) return std::min<milliseconds>(*wait, p.max_server_wait);
    thread_local std::mt19937 rng{std::random_device{}()};
    const auto exp = p.base_delay * (1LL << std::clamp(attempt - 1, 0, 16));
    const auto capped = std::min<milliseconds>(exp, p.max_delay);
    std::uniform_int_distribution<long long> jitter(capped.count() / 2, capped.count());
    return milliseconds(jitter(rng));
}

bool sleep_for(std::chrono::milliseconds d, const std::atomic<bool>* cancel) {
    using namespace std::chrono;
    const auto until = steady_clock::now() + d;
    while (steady_clock::now() < until) {
        if (cancel && cancel->load()) return false;
        std::this_thread::sleep_for(std::min<steady_clock::duration>(milliseconds(50),
                                                                     until - steady_clock::now()));
    }
    return !(cancel && cancel->load());
}

namespace {

std::string host_of(const std::string& url) {
    const auto scheme = url.find("://");
    const auto start = scheme == std::string::npos ? 0 : scheme + 3;
    return url.substr(start, url.find('/', start) - start);
}

std::string answer(int status) {
    return status == 429 ? "HTTP 429 (rate limited)" : "HTTP " + std::to_string(status);
}

} // namespace

Status wait_to_retry(const RetryPolicy& p, int attempt, int status, const Headers& headers,
                     const std::string& url, const std::atomic<bool>* cancel) {
    // -1: the server said nothing (a plain value keeps GCC's
    // -Wmaybe-uninitialized quiet about an optional here).
    const std::chrono::seconds asked = status ? server_wait(headers).value_or(std::chrono::seconds(-1))
                                              : std::chrono::seconds(-1);
    if (asked > p.max_server_wait)
        return Error(errc::network,
                     fmt::format("{} from {}: the server asks to wait {} s, longer than llmpt waits ({} s, "
                                 "LLMPT_MAX_SERVER_WAIT); try again later{}",
                                 answer(status), host_of(url), asked.count(), p.max_server_wait.count(),
                                 status == 429 ? ", or with a token (HF_TOKEN): the Hub's quotas are larger with one"
                                               : ""),
                     url);
    const auto delay = retry_delay(p, attempt, status ? headers : Headers{});
    if (asked >= std::chrono::seconds(1) && p.on_wait)
        p.on_wait(fmt::format("{} from {}: waiting {} s as the server asks", answer(status), host_of(url),
                              asked.count()));
    if (!sleep_for(delay, cancel)) return Error(errc::interrupted, "interrupted", url);
    return ok();
}

Result<Response> perform_with_retry(const Request& request, const RetryPolicy& policy, const Transport& transport) {
    for (int attempt = 1;; ++attempt) {
        auto r = transport ? transport(request) : perform(request);
        const bool last = attempt > policy.max_retries;
        if (r) {
            if (!retryable_status(r->status) || last) return r;
            if (auto st = wait_to_retry(policy, attempt, r->status, r->headers, request.url, request.cancel); !st)
                return st.error();
            continue;
        }
        if (r.error().code != errc::network || last) return r;
        // Nobody listening is not a passing fault: one quick retry only.
        if (is_connect_error(r.error()) && attempt > 1) return r;
        if (auto st = wait_to_retry(policy, attempt, 0, {}, request.url, request.cancel); !st) return st.error();
    }
}

} // namespace llmpt::http
