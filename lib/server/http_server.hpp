// server/: the HTTP server our services share (llmpt serve, the tracker, the
// daemon's control API on a Unix socket), on Boost.Beast/Asio. It owns
// connections, limits and timeouts; a handler turns a Request into a
// Response. File bodies go out with sendfile(2), never through user space.
#pragma once

#include <llmpt/error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llmpt::server {

struct Request {
    std::string method;              // "GET", "HEAD", "POST", ...
    std::string target;              // raw request target
    std::string path;                // raw path (before '?'), not decoded
    std::string query;               // raw query (after '?')
    std::map<std::string, std::string> headers; // lower-case names
    std::string body;
    std::string remote;              // peer address

    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

// A file region sent with sendfile(2). The fd is owned by the response.
struct FileRegion {
    int fd = -1;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

// A body produced over time (Server-Sent Events). The connection writes
// what next() delivers, asks again when it is written, and closes after an
// empty delivery: the body ends with the connection (no Content-Length).
class BodyStream {
public:
    using Deliver = std::function<void(std::string)>;
    virtual ~BodyStream() = default;
    // Calls `deliver` exactly once, now or later and from any thread, with
    // the next bytes; an empty string ends the body. Unless cancelled first.
    virtual void next(Deliver deliver) = 0;
    // The client went away or the server stops: once this returns, the
    // pending `deliver` is dropped and never called.
    virtual void cancel() = 0;
};

struct Response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::optional<FileRegion> file;  // if set, the body is this region
    std::shared_ptr<BodyStream> stream; // if set, the body is what it delivers

    Response& header(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
    static Response json_error(int status, const std::string& message);
};

using Handler = std::function<Response(const Request&)>;

struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;                  // 0: any free port
    std::string unix_path;                   // set: listen on this Unix socket (mode 0600) instead
    int threads = 4;
    std::size_t header_limit = 16 * 1024;    // larger: 431
    std::size_t body_limit = 1 << 20;        // larger: 413
    std::chrono::seconds idle_timeout{30};   // a silent client is dropped
    std::size_t max_connections = 1024;
    std::function<void(const std::string&)> log;
};

class HttpServer {
public:
    static Result<std::unique_ptr<HttpServer>> start(Options options, Handler handler);
    virtual ~HttpServer() = default;
    virtual std::uint16_t port() const = 0;
    virtual void stop() = 0;
    virtual void wait() = 0;
};

// Helpers for handlers.
std::map<std::string, std::vector<std::string>> parse_query(const std::string& query);

} // namespace llmpt::server
