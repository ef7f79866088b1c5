#include "http/retry.hpp"

#include <algorithm>
#include <random>
#include <thread>

namespace llmpt::http {

bool retryable_status(int status) noexcept {
    // 501 and 505 say "never", not "not now".
    return status == 408 || status == 429 || (status >= 500 && status <= 599 && status != 501 && status != 505);
}

std::chrono::milliseconds retry_delay(const RetryPolicy& p, int attempt, const Headers& headers) {
    using namespace std::chrono;
    if (auto it = headers.find("retry-after"); it != headers.end()) {
        char* end = nullptr;
        const long secs = std::strtol(it->second.c_str(), &end, 10);
        if (end && *end == '\0' && secs >= 0)
            return std::min<milliseconds>(seconds(secs), p.max_delay * 6);
    }
    thread_local std::mt19937 rng{std::random_device{}()};
    const auto exp = p.base_delay * (1LL << std::min(attempt - 1, 16));
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

Result<Response> perform_with_retry(const Request& request, const RetryPolicy& policy) {
    for (int attempt = 1;; ++attempt) {
        auto r = perform(request);
        const bool last = attempt > policy.max_retries;
        if (r) {
            if (!retryable_status(r->status) || last) return r;
            if (!sleep_for(retry_delay(policy, attempt, r->headers), request.cancel))
                return Error(errc::interrupted, "interrupted", request.url);
            continue;
        }
        if (r.error().code != errc::network || last) return r;
        // Nobody listening is not a passing fault: one quick retry only.
        if (is_connect_error(r.error()) && attempt > 1) return r;
        if (!sleep_for(retry_delay(policy, attempt, {}), request.cancel))
            return Error(errc::interrupted, "interrupted", request.url);
    }
}

} // namespace llmpt::http
