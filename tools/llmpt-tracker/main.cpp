// llmpt-tracker: the torrent registry and BitTorrent tracker
// (llmpt::TrackerServer). Parses arguments, starts the server, waits for
// SIGINT/SIGTERM.
#include <llmpt/address.hpp>
#include <llmpt/tracker_server.hpp>

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <pthread.h>

namespace {

int fail(int code, const std::string& message) {
    std::fprintf(stderr, "llmpt-tracker: error: %s\n", message.c_str());
    return code;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"llmpt-tracker: the llmpt torrent registry (/api/v1) and BitTorrent tracker (/announce, /scrape)"};
    llmpt::TrackerServerOptions o;
    std::string listen = "127.0.0.1:8080", db = o.db_path.string(), token_file, log_file;
    int interval = 300;
    bool quiet = false;
    app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)")->capture_default_str();
    app.add_option("--db", db, "SQLite database file (created if missing)")->capture_default_str();
    app.add_option("--publish-token", o.publish_tokens, "Token required as 'Authorization: Bearer' to publish (repeatable)");
    app.add_option("--publish-token-file", token_file, "File with one publish token per line");
    app.add_option("--announce-interval", interval,
                   "Seconds between announces that clients are told. llmpt clients follow it; other libtorrent "
                   "clients re-announce at most every 300 s, so their peers expire only after twice the longer "
                   "of the two")
        ->check(CLI::Range(10, 86400))->capture_default_str();
    app.add_option("--hub-endpoint", o.hub_endpoint, "Check published torrents against this Hub's file lists");
    app.add_option("--announce-rate", o.announce_rate, "Announces per second per client address (0: no limit)")
        ->check(CLI::Range(0.0, 1e6))->capture_default_str();
    app.add_option("--announce-burst", o.announce_burst,
                   "Announces one client address may send at once (default: 60 s worth of --announce-rate, so "
                   "that a daemon seeding hundreds of snapshots, or a lab behind one NAT, can start at once)")
        ->check(CLI::Range(1.0, 1e7));
    app.add_option("--publish-rate", o.publish_rate, "Publishes per second per client address (0: no limit)")
        ->check(CLI::Range(0.0, 1e6))->capture_default_str();
    app.add_flag("--trust-proxy", o.trust_proxy, "Take the client address from X-Forwarded-For / X-Real-IP / ip=");
    int cohort_lease = 15;
    app.add_option("--cohort-lease", cohort_lease,
                   "Seconds a cold-start cohort member may stay silent before its chunks go to others")
        ->check(CLI::Range(2, 3600))
        ->capture_default_str();
    app.add_option("--threads", o.threads, "Network threads")->check(CLI::Range(1, 64))->capture_default_str();
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
    const auto hp = llmpt::parse_host_port(listen, "127.0.0.1");
    if (!hp) return fail(2, "--listen must be HOST:PORT, got '" + listen + "'");
    o.host = hp->host;
    o.port = hp->port;
    o.db_path = db;
    o.announce_interval = std::chrono::seconds(interval);
    o.cohort_lease = std::chrono::seconds(cohort_lease);
    o.log_requests = !quiet;
    if (!token_file.empty()) {
        std::ifstream in(token_file);
        if (!in) return fail(2, "cannot read " + token_file);
        for (std::string line; std::getline(in, line);) {
            line.erase(line.find_last_not_of(" \t\r") + 1);
            if (!line.empty() && line[0] != '#') o.publish_tokens.push_back(line);
        }
    }

    FILE* log_out = stderr;
    if (!log_file.empty() && !(log_out = std::fopen(log_file.c_str(), "a"))) return fail(1, "cannot open log file " + log_file);
    auto log_mu = std::make_shared<std::mutex>();
    const auto log = [log_mu, log_out](const std::string& line) { // lines come timestamped
        std::lock_guard lk(*log_mu);
        std::fprintf(log_out, "%s\n", line.c_str());
        std::fflush(log_out);
    };
    o.log = log;

    // Signals are taken by sigwait below, never by a server thread.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    const auto tokens = o.publish_tokens.size();
    auto server = llmpt::TrackerServer::start(std::move(o));
    if (!server) return fail(server.error().exit_code(), server.error().what());
    std::printf("llmpt-tracker: listening on http://%s:%u (db %s, %zu publish tokens)\n", llmpt::url_host(hp->host).c_str(),
                static_cast<unsigned>((*server)->port()), db.c_str(), tokens);
    std::fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    (*server)->stop(std::string("shutting down on ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
    return 0;
}
