// llmpt serve: an HF-compatible endpoint over a local cache.
#include "common.hpp"

#include <llmpt/serve.hpp>
#include <llmpt/settings.hpp>

#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <pthread.h>

namespace llmpt::cli {

namespace {

struct ServeArgs {
    std::string cache_dir;
    std::string listen = "127.0.0.1:8000";
    std::string token, upstream;
    bool redirect = false;
    bool quiet = false;
    int threads = 4;
    std::size_t page_size = 1000;
};

int run_serve(const ServeArgs& a) {
    const auto hp = parse_listen(a.listen, "127.0.0.1");
    if (!hp) return usage_error("--listen must be HOST:PORT, got '" + a.listen + "'");

    // Signals are taken by sigwait below, on this thread only.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    ServeOptions o;
    o.cache_dir = a.cache_dir.empty() ? default_cache_dir() : std::filesystem::path(a.cache_dir);
    o.host = hp->host;
    o.port = hp->port;
    o.token = a.token;
    o.redirect = a.redirect;
    o.threads = a.threads;
    o.tree_page_size = a.page_size;
    o.upstream = a.upstream;
    if (!a.quiet) {
        auto mu = std::make_shared<std::mutex>();
        o.log = [mu](const std::string& line) {
            std::lock_guard lk(*mu);
            fmt::print(stderr, "{}\n", line);
        };
    }
    auto server = Server::start(o);
    if (!server) return report(server.error());
    const bool v6 = o.host.find(':') != std::string::npos;
    fmt::print("llmpt serve: listening on http://{}{}{}:{} (cache {}{}{})\n", v6 ? "[" : "", o.host, v6 ? "]" : "",
               (*server)->port(), o.cache_dir.string(), o.upstream.empty() ? "" : ", upstream ", o.upstream);
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    (*server)->stop();
    return 0;
}

} // namespace

Runner add_serve(CLI::App& app) {
    auto a = std::make_shared<ServeArgs>();
    auto* cmd = app.add_subcommand("serve", "Serve a local cache as an HF-compatible endpoint");
    cmd->footer("Point clients at it with HF_ENDPOINT=http://HOST:PORT. Runs until SIGINT/SIGTERM.");
    cmd->add_option("--cache-dir", a->cache_dir, "Cache root to serve (default: the HF cache)");
    cmd->add_option("--listen", a->listen, "HOST:PORT to listen on (port 0: any free port)")->capture_default_str();
    cmd->add_option("--token", a->token, "Require this Bearer token: every repo becomes gated");
    cmd->add_flag("--redirect", a->redirect, "Answer LFS files with a 302 to /_cdn/..., as the Hub's CDN does");
    cmd->add_option("--threads", a->threads, "Network threads")->check(CLI::Range(1, 64))->capture_default_str();
    cmd->add_option("--page-size", a->page_size, "Tree entries per page")->check(CLI::Range(1, 100000))
        ->capture_default_str();
    cmd->add_option("--upstream", a->upstream,
                    "Be the HF endpoint in front of this Hub (a LAN mirror): metadata from it, files from the cache "
                    "or downloaded into it through the swarm (LLMPT_TRACKER) with the Hub as fallback, streamed "
                    "to the client as they arrive");
    cmd->add_flag("-q,--quiet", a->quiet, "Do not log requests to stderr");
    return [a] { return run_serve(*a); };
}

} // namespace llmpt::cli
