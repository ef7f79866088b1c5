// endpoint/: an HF-compatible endpoint in front of the Hub (docs/design.md,
// "The HF endpoint"): `HF_ENDPOINT=http://127.0.0.1:PORT` and any Hub
// client downloads through llmpt.
//
// Metadata (revision, tree, paths-info, the HEAD of a resolve) is the
// Hub's own answer, with the client's Authorization, kept on disk
// (endpoint/meta_cache.hpp) for when the Hub is down. A file is served from
// the cache (sendfile, ranges) when there; otherwise one download task per
// snapshot (Tasks: swarm first, the Hub as fallback, verified, seeded
// afterwards) fetches it, and the bytes are streamed to the client as the
// task's FileWatch reports them, in order. The stream hashes what it sends
// and holds back the file's last byte until the file passed the Hub's hash
// and its own digest matches: a client never receives a whole wrong file.
// Other GET/HEAD routes pass through to the Hub; other methods get 501.
#pragma once

#include <llmpt/daemon.hpp>
#include <llmpt/download.hpp>
#include <llmpt/error.hpp>

#include "server/http_server.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace llmpt::endpoint {

struct Options {
    std::string upstream;                    // the Hub's base URL
    std::filesystem::path cache_dir;         // the HF cache files come from and go to
    std::filesystem::path state_dir;         // metadata answers: {state_dir}/hub-cache
    std::chrono::seconds branch_ttl{600};    // a branch's cached answer, while the Hub is down
    // Starts a download task (or joins an identical one) that `watch` follows.
    std::function<Status(const daemon::TaskRequest&, std::shared_ptr<FileWatch> watch)> submit;
    std::function<void(const std::string&)> log;
};

class Endpoint {
public:
    // Listens on `listen` (host, port, limits) and serves until stop().
    static Result<std::unique_ptr<Endpoint>> start(Options options, server::Options listen);
    virtual ~Endpoint() = default;
    virtual std::uint16_t port() const = 0;
    // Ends every stream (their clients see a cut connection) and the server. Idempotent.
    virtual void stop() = 0;
};

} // namespace llmpt::endpoint
