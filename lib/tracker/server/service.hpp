// The tracker service: the REST registry (/api/v1/...) and the BitTorrent
// HTTP tracker (/announce, /scrape) over one Db and one SwarmStore. The
// HTTP server (server/http_server.hpp) calls handle() on its threads; every
// member is safe to call concurrently.
//
//   service.cpp          routing, the registry's reads, the swarm index
//   service_publish.cpp  POST /api/v1/publish
//   service_announce.cpp /announce and /scrape
//   service_cohort.cpp   /api/v1/cohort/... (the cold start)
#pragma once

#include "server/http_server.hpp"
#include "tracker/server/cohort.hpp"
#include "tracker/protocol.hpp"
#include "tracker/server/db.hpp"
#include "tracker/server/rate_limit.hpp"
#include "tracker/server/swarm.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmpt::tracker {

struct ServiceOptions {
    std::filesystem::path db_path = "llmpt-tracker.db";
    std::vector<std::string> publish_tokens;      // empty: publishing is open
    std::chrono::seconds announce_interval{300};  // what announces are told
    std::chrono::seconds min_interval{30};
    int max_numwant = 200;
    double announce_rate = 20, announce_burst = 60; // per client address, per second; 0: off
    double publish_rate = 0.5, publish_burst = 20;
    double cohort_rate = 20, cohort_burst = 200;  // cohort calls per client address
    CohortStore::Options cohort;
    bool trust_proxy = false;                     // honour X-Forwarded-For / X-Real-IP / ip=
    std::string hub_endpoint;                     // non-empty: publish checks the Hub's tree
    std::size_t max_scrape = 100;
    std::function<void(const std::string&)> log;  // one line per event
    bool log_events = true;                       // announces with an event (started, completed, stopped)
};

// libtorrent re-announces no more often than its min_announce_interval
// (300 s unless changed), whatever a tracker says; llmpt's own clients
// lower it to follow the tracker (peer ids start with "-LM").
constexpr std::chrono::seconds kClientAnnounceFloor{300};
std::chrono::seconds peer_ttl(std::string_view peer_id, std::chrono::seconds interval);

class Service {
public:
    static Result<std::unique_ptr<Service>> open(ServiceOptions options);

    server::Response handle(const server::Request& req);
    // Drops expired peers; call periodically. Logs a summary line.
    void tick();

private:
    explicit Service(ServiceOptions o);
    server::Response torrents(const server::Request& req);
    server::Response torrent_file(const server::Request& req);
    server::Response publish(const server::Request& req);
    server::Response announce(const server::Request& req);
    server::Response scrape(const server::Request& req);
    server::Response cohort(const server::Request& req);

    // Publish steps (service_publish.cpp). Each returns the answer that
    // ends the publish, or nothing to go on.
    struct PublishAttempt;
    std::optional<server::Response> authorize(const server::Request& req, PublishAttempt& a);
    // Why the request's publish token is refused (nullopt: accepted, or no
    // tokens are configured); `token_id` names an accepted one for the audit.
    std::optional<std::string> token_problem(const server::Request& req, std::string& token_id) const;
    std::optional<server::Response> check_against_hub(const protocol::Publish& p, PublishAttempt& a);
    server::Response store(const protocol::Publish& p, PublishAttempt& a);
    // A cohort's parts are all in: assemble, check and publish its torrent.
    void publish_assembled(const server::Request& req, const std::string& cohort_id, CohortStore::Reported& r);

    std::string client_address(const server::Request& req, const std::string& ip_param) const;
    // 429 with Retry-After when `limit` refuses `remote` now; nothing to go on.
    static std::optional<server::Response> over_limit(RateLimiter& limit, const std::string& remote);
    std::optional<std::int64_t> torrent_for_hash(const std::string& raw20);
    void index_torrent(const TorrentRow& row);
    void unindex_torrent(const TorrentRow& row);
    std::optional<TorrentRecord> record(const TorrentRow& row, Clock::time_point now);
    void log(const std::string& line) const;

    ServiceOptions o_;
    std::unique_ptr<Db> db_;
    SwarmStore swarms_;
    CohortStore cohorts_;
    RateLimiter announce_limit_, publish_limit_, cohort_limit_;
    std::shared_mutex index_mu_;
    std::unordered_map<std::string, std::int64_t> by_hash_; // raw 20 bytes -> torrent id
    std::atomic<std::uint64_t> announces_{0}, refused_{0};
};

} // namespace llmpt::tracker
