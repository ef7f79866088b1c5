// The llmpt tracker as a library (`llmpt-tracker` is a thin CLI over it):
// the REST registry of torrents per repo revision (/api/v1/...) and a
// BitTorrent HTTP tracker (/announce, /scrape) over one SQLite file.
// The protocol is in docs/design.md ("The tracker") and the README.
#pragma once

#include <llmpt/error.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace llmpt {

struct TrackerServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;                    // 0: any free port
    std::filesystem::path db_path = "llmpt-tracker.db";
    std::vector<std::string> publish_tokens;      // empty: publishing is open
    // What announces are told; peers expire when silent for twice this, or
    // twice libtorrent's own floor of 300 s, whichever is longer (clients
    // re-announce no more often than that whatever they are told).
    std::chrono::seconds announce_interval{300};
    double announce_rate = 20;                    // per client address, per second; 0: no limit
    double announce_burst = 0;                    // 0: 60 s worth of announce_rate
    double publish_rate = 0.5;                    // per client address, per second; 0: no limit
    bool trust_proxy = false;                     // take the client address from X-Forwarded-For / X-Real-IP / ip=
    std::string hub_endpoint;                     // non-empty: publishes are checked against this Hub's trees
    // Cold-start cohorts: a member silent this long loses its chunks to
    // the others (docs/design.md, "The cold start").
    std::chrono::seconds cohort_lease{15};
    int threads = 4;
    std::function<void(const std::string&)> log;  // one timestamped line per event; empty: quiet
    bool log_requests = true;                     // a line per REST request (announces never)
};

class TrackerServer {
public:
    // Opens the database, binds and starts serving on background threads.
    static Result<std::unique_ptr<TrackerServer>> start(TrackerServerOptions options);
    virtual ~TrackerServer() = default;
    virtual std::uint16_t port() const = 0;
    // Stops accepting, closes connections, joins the threads; logs `why`
    // first when given. Idempotent.
    virtual void stop(const std::string& why = {}) = 0;
};

} // namespace llmpt
