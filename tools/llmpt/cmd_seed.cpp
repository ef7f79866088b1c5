// llmpt seed: share one cached snapshot until SIGINT/SIGTERM.
#include "common.hpp"
#include "progress.hpp"

#include <llmpt/seed.hpp>
#include <llmpt/settings.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

namespace llmpt::cli {

namespace {

struct SeedArgs {
    std::string repo, repo_type = "model", revision = "main", cache_dir, tracker, listen = "0.0.0.0:6881",
                publish_token, max_upload_rate;
    bool hybrid = false;
};

int run_seed(const SeedArgs& a) {
    const auto type = repo_type_option(a.repo_type);
    if (!type) return usage_error("--repo-type must be model, dataset or space");
    if (!parse_listen(a.listen, "0.0.0.0")) return usage_error("--listen must be HOST:PORT, got '" + a.listen + "'");
    auto env = Settings::from_env();
    warn_env(env);
    env.p2p_listen = a.listen;
    if (!a.max_upload_rate.empty()) {
        const auto rate = parse_rate(a.max_upload_rate);
        if (!rate) return usage_error("--max-upload-rate must be bytes per second like 500K or 20M");
        env.p2p_upload_rate_limit = *rate;
    }
    SeedRequest req;
    req.repo = a.repo;
    req.repo_type = *type;
    req.revision = a.revision;
    req.cache_dir = a.cache_dir.empty() ? default_cache_dir() : std::filesystem::path(a.cache_dir);
    req.tracker = a.tracker.empty() ? env.tracker : a.tracker;
    req.publish_token = a.publish_token;
    req.hybrid = a.hybrid;
    install_interrupt_handler();

    auto session = start_session(env, {req.tracker}); // a complete seed has no web seeds
    if (!session) return report(session.error());
    auto seeder = Seeder::start(**session, req);
    if (!seeder) return report(seeder.error());
    const auto s = (*seeder)->status();
    fmt::print("seeding {}@{} info_hash {} port {} publish {}\n", a.repo, s.commit.str(), s.info_hash.v2(), s.listen_port,
               s.publish);
    std::fflush(stdout);
    fmt::print(stderr, "{} files, {}, {} hashed now\n", s.files, human_bytes(s.bytes), human_bytes(s.hashed_now));

    const bool tty = ::isatty(STDERR_FILENO);
    auto last = std::chrono::steady_clock::now();
    std::string published = s.publish;
    while (!g_interrupted.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        (*seeder)->maintain();
        if (const auto now = (*seeder)->status().publish; now != published) {
            published = now;
            fmt::print(stderr, "{}publish {}\n", tty ? "\r\033[K" : "", now);
        }
        if (tty && std::chrono::steady_clock::now() - last > std::chrono::seconds(1)) {
            last = std::chrono::steady_clock::now();
            const auto st = (*seeder)->status();
            fmt::print(stderr, "\r{} peers, {} uploaded\033[K", st.peers, human_bytes(st.uploaded));
        }
    }
    if (tty) fmt::print(stderr, "\n");
    const auto final_status = (*seeder)->status();
    (*seeder)->stop();
    fmt::print(stderr, "uploaded {} bytes\n", final_status.uploaded);
    return 0;
}

} // namespace

Runner add_seed(CLI::App& app) {
    auto a = std::make_shared<SeedArgs>();
    auto* cmd = app.add_subcommand("seed", "Share a cached snapshot over BitTorrent until interrupted");
    cmd->footer("Verifies every blob first (remembering what it verified), publishes the torrent when the "
                "tracker has none, and keeps announcing until SIGINT/SIGTERM.");
    cmd->add_option("repo", a->repo, "Repo id")->required();
    cmd->add_option("--revision", a->revision, "Revision or commit")->capture_default_str();
    cmd->add_option("--repo-type", a->repo_type, "model, dataset or space")->capture_default_str();
    cmd->add_option("--cache-dir", a->cache_dir, "Cache root (default: the HF cache)");
    cmd->add_option("--tracker", a->tracker, "Tracker base URL (default: LLMPT_TRACKER)");
    cmd->add_option("--listen", a->listen, "HOST:PORT for peers (port 0: any)")->capture_default_str();
    cmd->add_option("--max-upload-rate", a->max_upload_rate, "Cap what this seeder sends (bytes/s: 500K, 20M; 0: none)");
    cmd->add_option("--publish-token", a->publish_token, "Token for publishing to the tracker");
    cmd->add_flag("--hybrid", a->hybrid, "Seed the hybrid (v1+v2) torrent, for v1-only clients");
    return [a] { return run_seed(*a); };
}

} // namespace llmpt::cli
