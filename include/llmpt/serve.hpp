// An HF-compatible endpoint over a local cache: a LAN mirror, and the Hub
// stand-in of our tests. Answers the Hub protocol (docs/design.md): revision, tree (paginated),
// paths-info, HEAD/GET resolve with ranges, X-Error-Code errors.
#pragma once

#include <llmpt/error.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace llmpt {

struct ServeOptions {
    std::filesystem::path cache_dir;
    std::string host = "127.0.0.1";
    std::uint16_t port = 8000;               // 0: any free port
    std::string token;                       // non-empty: every repo is gated
    bool redirect = false;                   // LFS files answer 302 to /_cdn/...
    int threads = 4;
    std::size_t tree_page_size = 1000;       // entries per tree page
    std::size_t max_connections = 1024;
    std::function<void(const std::string&)> log; // one line per request; empty: quiet
    // Set: the HF endpoint in front of this Hub instead (docs/design.md,
    // "The HF endpoint"): metadata from the Hub, files from the cache or
    // downloaded into it (swarm first) and streamed as they arrive.
    std::string upstream;
};

class Server {
public:
    // Binds and starts serving on background threads.
    static Result<std::unique_ptr<Server>> start(ServeOptions options);
    virtual ~Server() = default;

    virtual std::uint16_t port() const = 0;
    // Stops accepting, closes connections, joins the threads. Idempotent.
    virtual void stop() = 0;
    // Blocks until stop() is called from another thread.
    virtual void wait() = 0;
};

} // namespace llmpt
