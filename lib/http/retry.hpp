// Retry policy for HTTP: 408/429/5xx and transport errors are retried with
// exponential backoff and jitter. A server that says how long to wait
// (Retry-After, or the RateLimit header the Hub sends with a 429) is obeyed,
// up to a bound; past it the request gives up with a message that says why.
#pragma once

#include "http/client.hpp"

#include <llmpt/settings.hpp>

#include <chrono>
#include <functional>
#include <optional>

namespace llmpt::http {

using WaitNotice = std::function<void(const std::string&)>;

struct RetryPolicy {
    int max_retries = 5;
    std::chrono::milliseconds base_delay{250};
    std::chrono::milliseconds max_delay{10000};
    // The longest wait a server may ask for before the request gives up
    // instead (the Hub's quotas are 5-minute windows).
    std::chrono::seconds max_server_wait{300};
    // Told, with a one-line message, when a server asks us to wait.
    WaitNotice on_wait;

    static RetryPolicy from(const Settings& s, WaitNotice on_wait = {});
};

bool retryable_status(int status) noexcept;

// How long the server asks the client to wait: Retry-After (delta-seconds or
// an HTTP-date), else the reset time `t` of an exhausted quota (`r=0`) in the
// RateLimit header (draft-ietf-httpapi-ratelimit-headers, as the Hub sends
// it: `"api";r=0;t=55`). nullopt when the answer says nothing usable.
std::optional<std::chrono::seconds> server_wait(const Headers& headers);

// The delay before attempt `attempt` (1-based): the server's wait when it
// gave one, else exponential backoff with jitter up to max_delay.
std::chrono::milliseconds retry_delay(const RetryPolicy& p, int attempt, const Headers& headers);

// Sleeps for `d` unless `cancel` becomes true first; returns false if cancelled.
bool sleep_for(std::chrono::milliseconds d, const std::atomic<bool>* cancel);

// Waits before attempt `attempt` after an answer with `status` and
// `headers` from `url` (status 0: a transport error): tells p.on_wait when
// the server asked for the wait. An error when the server asks for longer
// than p.max_server_wait (errc::network) or when cancelled (interrupted).
Status wait_to_retry(const RetryPolicy& p, int attempt, int status, const Headers& headers,
                     const std::string& url, const std::atomic<bool>* cancel);

// perform() with retries. Only for requests without on_body (the body is
// collected); streaming transfers retry themselves from where they stopped.
// Nobody listening (Cause::unreachable) is retried once, quickly; other
// transport errors and retryable statuses up to policy.max_retries times.
// `transport` stands in for perform() (unit tests).
using Transport = std::function<Result<Response>(const Request&)>;
Result<Response> perform_with_retry(const Request& request, const RetryPolicy& policy,
                                    const Transport& transport = {});

} // namespace llmpt::http
