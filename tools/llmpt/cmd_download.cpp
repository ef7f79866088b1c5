// llmpt download: a drop-in for `huggingface-cli download`.
#include "common.hpp"
#include "progress.hpp"

#include <llmpt/download.hpp>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdio>
#include <memory>

namespace llmpt::cli {

namespace {

struct DownloadArgs {
    std::string repo;
    std::vector<std::string> files;
    std::string revision = "main";
    std::string repo_type = "model";
    std::vector<std::string> include, exclude;
    std::string cache_dir, local_dir, endpoint, token, tracker, listen;
    bool no_p2p = false, no_webseed = false, json = false, quiet = false, events = false;
    int p2p_timeout = 0;
    int connections = 0;
    std::uint64_t chunk_mib = 0;
};

int run_download(const DownloadArgs& a) {
    auto settings = Settings::from_env();
    if (!a.cache_dir.empty()) settings.cache_dir = a.cache_dir;
    if (!a.endpoint.empty()) settings.endpoint = a.endpoint;
    while (!settings.endpoint.empty() && settings.endpoint.back() == '/') settings.endpoint.pop_back();
    if (!a.token.empty()) settings.token = a.token;
    if (a.connections > 0) settings.http_connections = a.connections;
    if (a.chunk_mib > 0) settings.http_chunk_size = a.chunk_mib << 20;
    if (!a.tracker.empty()) settings.tracker = a.tracker;
    if (a.no_p2p) settings.p2p = false;
    if (a.no_webseed) settings.webseed = false;
    if (a.p2p_timeout > 0) settings.p2p_timeout = std::chrono::seconds(a.p2p_timeout);
    if (!a.listen.empty()) {
        if (!parse_listen(a.listen, "0.0.0.0")) return usage_error("--listen must be HOST:PORT, got '" + a.listen + "'");
        settings.p2p_listen = a.listen;
    }

    DownloadRequest req;
    req.repo = a.repo;
    const auto type = repo_type_option(a.repo_type);
    if (!type) return usage_error("--repo-type must be model, dataset or space");
    req.repo_type = *type;
    req.revision = a.revision;
    req.files = a.files;
    req.include = a.include;
    req.exclude = a.exclude;
    req.local_dir = a.local_dir;
    req.cancel = &g_interrupted;
    install_interrupt_handler();

    ProgressBar bar(!a.quiet && ::isatty(STDERR_FILENO), !a.quiet);
    const auto emit = [](const nlohmann::json& j) {
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
    };
    auto result = download(settings, req, [&](const Event& e) {
        bar.on_event(e);
        if (!a.events) return;
        if (const auto* p = std::get_if<PlanEvent>(&e))
            emit({{"event", "plan"}, {"commit", p->commit}, {"files", p->files_total},
                  {"files_cached", p->files_cached}, {"bytes_total", p->bytes_total},
                  {"bytes_cached", p->bytes_cached}});
        else if (const auto* f = std::get_if<FileReadyEvent>(&e))
            emit({{"event", "file"}, {"path", f->path}, {"local_path", f->local_path}, {"size", f->size}});
        else if (const auto* w = std::get_if<WarningEvent>(&e))
            emit({{"event", "warning"}, {"message", w->message}});
    });
    bar.finish();
    llmpt::shutdown();
    if (!result) {
        if (result.error().code == errc::interrupted)
            std::fprintf(stderr, "llmpt: interrupted; run the same command again to resume\n");
        return report(result.error());
    }
    if (result->offline && !a.quiet)
        std::fprintf(stderr, "llmpt: using the cached snapshot (the Hub was not asked)\n");
    if (a.json || a.events) {
        nlohmann::json j = {{"repo", result->repo},
                                  {"commit", result->commit},
                                  {"path", result->path.string()},
                                  {"files", result->files},
                                  {"bytes_total", result->bytes_total},
                                  {"bytes_p2p", result->bytes_p2p},
                                  {"bytes_webseed", result->bytes_webseed},
                                  {"bytes_http", result->bytes_http},
                                  {"bytes_cached", result->bytes_cached},
                                  {"seconds", result->seconds}};
        if (a.events) j["event"] = "done";
        emit(j);
    } else {
        std::printf("%s\n", result->path.c_str());
    }
    return 0;
}

} // namespace

Runner add_download(CLI::App& app) {
    auto a = std::make_shared<DownloadArgs>();
    auto* cmd = app.add_subcommand("download", "Download a repo revision into the HuggingFace cache");
    cmd->footer("Prints the snapshot folder (or --local-dir). Environment: HF_ENDPOINT, HF_TOKEN, "
                "HF_HUB_CACHE, HF_HOME, HF_HUB_OFFLINE, LLMPT_TRACKER.");
    cmd->add_option("repo", a->repo, "Repo id, e.g. org/name")->required();
    cmd->add_option("files", a->files, "Only these files (repo-relative paths)");
    cmd->add_option("--revision", a->revision, "Branch, tag, refs/pr/N or commit")->capture_default_str();
    cmd->add_option("--repo-type", a->repo_type, "model, dataset or space")->capture_default_str();
    cmd->add_option("--include", a->include, "Only paths matching this glob (repeatable)");
    cmd->add_option("--exclude", a->exclude, "Skip paths matching this glob (repeatable)");
    cmd->add_option("--cache-dir", a->cache_dir, "Cache root (default: HF_HUB_CACHE or ~/.cache/huggingface/hub)");
    cmd->add_option("--local-dir", a->local_dir, "Write plain files into this folder instead of the cache");
    cmd->add_option("--endpoint", a->endpoint, "Hub endpoint (default: HF_ENDPOINT or https://huggingface.co)");
    cmd->add_option("--token", a->token, "Hub token (default: HF_TOKEN)");
    cmd->add_option("--connections", a->connections, "Parallel HTTP transfers (default 8)")
        ->check(CLI::Range(1, 64));
    cmd->add_option("--chunk-size", a->chunk_mib, "MiB per ranged HTTP request for large files (default 32)")
        ->check(CLI::Range(1, 4096));
    cmd->add_option("--tracker", a->tracker, "llmpt tracker base URL (default: LLMPT_TRACKER, HF_P2P_TRACKER)");
    cmd->add_flag("--no-p2p", a->no_p2p, "HTTP only: do not ask the tracker or peers");
    cmd->add_flag("--no-webseed", a->no_webseed, "Do not let the P2P session fetch pieces from the Hub");
    cmd->add_option("--p2p-timeout", a->p2p_timeout, "Seconds without P2P progress before HTTP takes over (default 10)")
        ->check(CLI::Range(1, 3600));
    cmd->add_option("--listen", a->listen, "HOST:PORT for peers (default 0.0.0.0:0)");
    cmd->add_flag("--json", a->json, "Print a JSON summary instead of the path");
    cmd->add_flag("--events", a->events,
                  "Print NDJSON events on stdout as they happen: plan, one 'file' per file as soon as it is "
                  "verified and usable (completion order), warnings, then 'done' with the summary");
    cmd->add_flag("-q,--quiet", a->quiet, "No progress output");
    return [a] { return run_download(*a); };
}

} // namespace llmpt::cli
