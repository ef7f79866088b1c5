// http/: the one place that talks libcurl. Every HTTP request of the library
// goes through http::perform(), which owns handle reuse (a pool of easy
// handles on one share: connections, DNS and TLS sessions are reused across
// threads), timeouts, redirects and cancellation. Retries live in retry.hpp.
#pragma once

#include <llmpt/error.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace llmpt::http {

// Response header names are lower-cased; the last value of a repeated header wins.
using Headers = std::map<std::string, std::string>;

struct ByteRange {
    std::uint64_t first = 0;
    std::uint64_t last = 0; // inclusive
};

struct Request {
    std::string method = "GET"; // GET, HEAD, POST
    std::string url;
    std::string unix_socket;          // set: connect to this Unix socket (the URL's host is only a name)
    std::vector<std::string> headers; // "Name: value"
    std::string body;                 // POST body
    std::optional<ByteRange> range;
    bool follow_redirects = true;     // curl drops Authorization when the host changes
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds total_timeout{0}; // 0: none (use stall_timeout)
    std::chrono::seconds stall_timeout{30};     // < 1 KiB/s for this long aborts
    std::size_t max_body = 64u << 20;           // when the body is collected
    // Streaming: called with the final response's status and headers before
    // the first body byte (return false to abort), then with each piece of the
    // body (return false to abort). Without on_body the body is collected.
    std::function<bool(int status, const Headers&)> on_headers;
    std::function<bool(const char*, std::size_t)> on_body;
    const std::atomic<bool>* cancel = nullptr;
};

struct Response {
    int status = 0;
    Headers headers;
    std::string body;
    std::string effective_url;
    bool aborted_by_callback = false;
};

// Transport failures (no connection, timeout, reset) are errc::network; an
// abort requested by a callback returns the Response with aborted_by_callback;
// cancellation is errc::interrupted. HTTP statuses are never errors here.
Result<Response> perform(const Request& request);

// True for "connection refused" and "host not found" errors of perform().
bool is_connect_error(const Error& e);

// Must run once before any thread starts; safe to call again.
void global_init();

} // namespace llmpt::http
