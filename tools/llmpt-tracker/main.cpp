// llmpt-tracker: the torrent registry and BitTorrent tracker (DESIGN §5).
#include "service.hpp"

#include "util/time.hpp"

#include <CLI/CLI.hpp>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>
#include <pthread.h>
#include <thread>

namespace {

bool parse_listen(const std::string& s, std::string& host, std::uint16_t& port) {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || colon + 1 >= s.size()) return false;
    host = s.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const auto p = s.substr(colon + 1);
    if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
    const auto v = std::stoul(p);
    if (v > 65535) return false;
    port = static_cast<std::uint16_t>(v);
    return !host.empty();
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"llmpt-tracker: the llmpt torrent registry (/api/v1) and BitTorrent tracker (/announce, /scrape)"};
    std::string listen = "127.0.0.1:8080", db = "llmpt-tracker.db", token_file, hub, log_file;
    std::vector<std::string> tokens;
    int interval = 300, threads = 4;
    double announce_rate = 20, publish_rate = 0.5, announce_burst = -1;
    bool trust_proxy = false, quiet = false;
    app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)")->capture_default_str();
    app.add_option("--db", db, "SQLite database file (created if missing)")->capture_default_str();
    app.add_option("--publish-token", tokens, "Token required as 'Authorization: Bearer' to publish (repeatable)");
    app.add_option("--publish-token-file", token_file, "File with one publish token per line");
    app.add_option("--announce-interval", interval, "Seconds between announces; peers expire after twice this")
        ->check(CLI::Range(10, 86400))->capture_default_str();
    app.add_option("--hub-endpoint", hub, "Check published torrents against this Hub's file lists");
    app.add_option("--announce-rate", announce_rate, "Announces per second per client address (0: no limit)")
        ->check(CLI::Range(0.0, 1e6))->capture_default_str();
    app.add_option("--announce-burst", announce_burst,
                   "Announces one client address may send at once (default: 60 s worth of --announce-rate, so "
                   "that a daemon seeding hundreds of snapshots, or a lab behind one NAT, can start at once)")
        ->check(CLI::Range(1.0, 1e7));
    app.add_option("--publish-rate", publish_rate, "Publishes per second per client address (0: no limit)")
        ->check(CLI::Range(0.0, 1e6))->capture_default_str();
    app.add_flag("--trust-proxy", trust_proxy, "Take the client address from X-Forwarded-For / X-Real-IP / ip=");
    app.add_option("--threads", threads, "Network threads")->check(CLI::Range(1, 64))->capture_default_str();
    app.add_option("--log-file", log_file, "Append logs here instead of stderr");
    app.add_flag("-q,--quiet", quiet, "Log only errors and publishes");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "llmpt-tracker: error: %s\nRun with --help for usage.\n", e.what());
        return 2;
    }
    std::string host;
    std::uint16_t port = 0;
    if (!parse_listen(listen, host, port)) {
        std::fprintf(stderr, "llmpt-tracker: error: --listen must be HOST:PORT, got '%s'\n", listen.c_str());
        return 2;
    }
    if (!token_file.empty()) {
        std::ifstream in(token_file);
        if (!in) {
            std::fprintf(stderr, "llmpt-tracker: error: cannot read %s\n", token_file.c_str());
            return 2;
        }
        for (std::string line; std::getline(in, line);) {
            line.erase(line.find_last_not_of(" \t\r") + 1);
            if (!line.empty() && line[0] != '#') tokens.push_back(line);
        }
    }

    FILE* log_out = stderr;
    if (!log_file.empty() && !(log_out = std::fopen(log_file.c_str(), "a"))) {
        std::fprintf(stderr, "llmpt-tracker: error: cannot open log file %s\n", log_file.c_str());
        return 1;
    }
    auto log_mu = std::make_shared<std::mutex>();
    auto log = [log_mu, log_out](const std::string& line) {
        std::lock_guard lk(*log_mu);
        std::fprintf(log_out, "%s %s\n", llmpt::util::utc_timestamp().c_str(), line.c_str());
        std::fflush(log_out);
    };

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    llmpt::tracker::ServiceOptions o;
    o.db_path = db;
    o.publish_tokens = tokens;
    o.announce_interval = std::chrono::seconds(interval);
    o.min_interval = std::chrono::seconds(std::max(5, interval / 10));
    o.announce_rate = announce_rate;
    o.announce_burst = announce_burst > 0 ? announce_burst : std::max(1.0, announce_rate * 60);
    o.publish_rate = publish_rate;
    o.publish_burst = std::max(1.0, publish_rate * 40);
    o.trust_proxy = trust_proxy;
    o.hub_endpoint = hub;
    o.log = log;
    auto service = llmpt::tracker::Service::open(o);
    if (!service) {
        std::fprintf(stderr, "llmpt-tracker: error: %s\n", service.error().what().c_str());
        return service.error().exit_code();
    }

    llmpt::server::Options so;
    so.host = host;
    so.port = port;
    so.threads = threads;
    so.header_limit = 8 * 1024;
    so.body_limit = 24u << 20; // base64 of the 16 MiB torrent limit
    so.idle_timeout = std::chrono::seconds(10);
    so.max_connections = 8192;
    if (!quiet)
        so.log = [log](const std::string& line) {
            if (line.find(" /announce?") == std::string::npos) log("http " + line);
        };
    auto* svc = service->get();
    auto http = llmpt::server::HttpServer::start(so, [svc](const llmpt::server::Request& r) { return svc->handle(r); });
    if (!http) {
        std::fprintf(stderr, "llmpt-tracker: error: %s\n", http.error().what().c_str());
        return 1;
    }
    std::printf("llmpt-tracker: listening on http://%s:%u (db %s, %zu publish tokens)\n", host.c_str(),
                static_cast<unsigned>((*http)->port()), db.c_str(), tokens.size());
    std::fflush(stdout);

    // Expire peers and log a summary line every half interval (at most 60 s).
    std::mutex mu;
    std::condition_variable cv;
    bool stopping = false;
    std::thread ticker([&] {
        std::unique_lock lk(mu);
        const auto period = std::chrono::seconds(std::clamp(interval / 2, 5, 60));
        while (!cv.wait_for(lk, period, [&] { return stopping; })) {
            lk.unlock();
            svc->tick();
            lk.lock();
        }
    });

    int sig = 0;
    sigwait(&set, &sig);
    log(std::string("shutting down on ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
    (*http)->stop();
    {
        std::lock_guard lk(mu);
        stopping = true;
    }
    cv.notify_all();
    ticker.join();
    return 0;
}
