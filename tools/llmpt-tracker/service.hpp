// The tracker service: the REST registry (/api/v1/...) and the BitTorrent
// HTTP tracker (/announce, /scrape) over one Db and one SwarmStore.
#pragma once

#include "db.hpp"
#include "rate_limit.hpp"
#include "server/http_server.hpp"
#include "swarm.hpp"

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
    std::chrono::seconds announce_interval{300};  // peers expire after 2x this
    std::chrono::seconds min_interval{30};
    int max_numwant = 200;
    double announce_rate = 20, announce_burst = 60; // per client address, per second; 0: off
    double publish_rate = 0.5, publish_burst = 20;
    bool trust_proxy = false;                     // honour X-Forwarded-For / X-Real-IP / ip=
    std::string hub_endpoint;                     // non-empty: publish checks the Hub's tree
    std::size_t max_scrape = 100;
    std::function<void(const std::string&)> log;  // one line per event
};

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
    std::string client_address(const server::Request& req, const std::string& ip_param) const;
    std::optional<std::int64_t> torrent_for_hash(const std::string& raw20);
    void index_torrent(const TorrentRow& row);
    void log(const std::string& line) const;

    ServiceOptions o_;
    std::unique_ptr<Db> db_;
    SwarmStore swarms_;
    RateLimiter announce_limit_, publish_limit_;
    std::shared_mutex index_mu_;
    std::unordered_map<std::string, std::int64_t> by_hash_; // raw 20 bytes -> torrent id
    std::atomic<std::uint64_t> announces_{0}, refused_{0};
};

} // namespace llmpt::tracker
