// Per-client token buckets: `rate` requests per second on average, bursts of
// `burst`. A table of at most `max_clients` entries; when full, the idlest
// half is dropped (a flood of new addresses cannot grow memory).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace llmpt::tracker {

class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;
    // rate <= 0 disables the limiter.
    RateLimiter(double rate, double burst, std::size_t max_clients = 100000)
        : rate_(rate), burst_(burst), max_(max_clients) {}

    // True if allowed; otherwise `retry_after` says when one token is back.
    bool allow(const std::string& client, Clock::time_point now, std::chrono::seconds& retry_after);
    bool enabled() const { return rate_ > 0; }

private:
    struct Bucket {
        double tokens;
        Clock::time_point last;
    };
    void shrink(Clock::time_point now);
    double rate_, burst_;
    std::size_t max_;
    std::mutex mu_;
    std::unordered_map<std::string, Bucket> buckets_;
};

} // namespace llmpt::tracker
