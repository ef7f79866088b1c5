#include "tracker/server/rate_limit.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace llmpt::tracker {

bool RateLimiter::allow(const std::string& client, Clock::time_point now, std::chrono::seconds& retry_after) {
    if (rate_ <= 0) return true;
    std::lock_guard lk(mu_);
    auto it = buckets_.find(client);
    if (it == buckets_.end()) {
        if (buckets_.size() >= max_) shrink(now);
        it = buckets_.emplace(client, Bucket{burst_, now}).first;
    }
    auto& b = it->second;
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.last = now;
    if (b.tokens >= 1.0) {
        b.tokens -= 1.0;
        return true;
    }
    retry_after = std::chrono::seconds(static_cast<long>(std::ceil((1.0 - b.tokens) / rate_)));
    if (retry_after.count() < 1) retry_after = std::chrono::seconds(1);
    return false;
}

void RateLimiter::shrink(Clock::time_point now) {
    // Full buckets are idle clients: forgetting them changes nothing.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        const double elapsed = std::chrono::duration<double>(now - it->second.last).count();
        if (it->second.tokens + elapsed * rate_ >= burst_) it = buckets_.erase(it);
        else ++it;
    }
    if (buckets_.size() < max_) return;
    std::vector<std::pair<Clock::time_point, std::string>> by_age;
    by_age.reserve(buckets_.size());
    for (const auto& [k, b] : buckets_) by_age.emplace_back(b.last, k);
    std::nth_element(by_age.begin(), by_age.begin() + static_cast<long>(by_age.size() / 2), by_age.end());
    for (std::size_t i = 0; i < by_age.size() / 2; ++i) buckets_.erase(by_age[i].second);
}

} // namespace llmpt::tracker
