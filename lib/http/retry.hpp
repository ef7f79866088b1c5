// Retry policy for HTTP: 408/429/5xx and transport errors are retried with
// exponential backoff and jitter, honouring Retry-After (seconds).
#pragma once

#include "http/client.hpp"

#include <chrono>

namespace llmpt::http {

struct RetryPolicy {
    int max_retries = 5;
    std::chrono::milliseconds base_delay{250};
    std::chrono::milliseconds max_delay{10000};
};

bool retryable_status(int status) noexcept;

// The delay before attempt `attempt` (1-based), from Retry-After when the
// server sent one, else exponential with jitter; never above max_delay*6.
std::chrono::milliseconds retry_delay(const RetryPolicy& p, int attempt, const Headers& headers);

// Sleeps for `d` unless `cancel` becomes true first; returns false if cancelled.
bool sleep_for(std::chrono::milliseconds d, const std::atomic<bool>* cancel);

// perform() with retries. Only for requests without on_body (the body is
// collected); streaming transfers retry themselves from where they stopped.
Result<Response> perform_with_retry(const Request& request, const RetryPolicy& policy);

} // namespace llmpt::http
