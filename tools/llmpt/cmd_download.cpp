// llmpt download: a drop-in for `huggingface-cli download`.
#include "common.hpp"
#include "progress.hpp"

#include <llmpt/daemon.hpp>
#include <llmpt/download.hpp>
#include <llmpt/seed.hpp>
#include <llmpt/session.hpp>
#include <llmpt/tracker.hpp>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <set>
#include <thread>
#include <tuple>
#include <utility>

namespace llmpt::cli {

namespace {

struct DownloadArgs {
    daemon::TaskRequest task; // every download option but those of this process's session
    std::string repo_type = "model";
    std::string listen, max_upload_rate, max_download_rate;
    int seed_time = 60;
    bool json = false, quiet = false, events = false, in_process = false;
};

// The control socket of the daemon that serves `cache_dir`, if one does.
std::optional<std::filesystem::path> daemon_socket(const std::filesystem::path& cache_dir) {
    if (const auto h = daemon::holder(cache_dir); h && !h->socket.empty()) return h->socket;
    return std::nullopt;
}

void emit(const std::string& line) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
}

// What the caller prints at the end: the path, or the --json/--events summary.
int print_result(const DownloadArgs& a, const DownloadResult& r) {
    if (r.offline && !a.quiet) fmt::print(stderr, "llmpt: using the cached snapshot (the Hub was not asked)\n");
    if (a.json || a.events) {
        auto j = nlohmann::json::parse(to_json(r));
        if (a.events) j["event"] = "done";
        emit(j.dump());
    } else {
        fmt::print("{}\n", r.path.string());
    }
    return 0;
}

// Shows one event: the progress bar, and with --events the NDJSON line.
void show(const DownloadArgs& a, ProgressBar& bar, const Event& e) {
    bar.on_event(e);
    if (a.events && !std::holds_alternative<ProgressEvent>(e)) emit(to_json(e));
}

// After a download into the cache that came from a swarm: its snapshot is
// seeded for peers that still need it. A daemon serving the cache takes
// that over at once (it is asked to scan now); else this process seeds
// for up to --seed-time seconds, and stops once no leecher is left: at once
// when the tracker knows none, after 5 s without a connected one otherwise.
// The download's own torrent goes on seeding when it ended with every file
// (DownloadRequest::keep_seeding): its peers stay connected. (A download
// nobody shared is not seeded here: that would mean hashing the whole
// snapshot at exit; the daemon, where there is one, seeds and publishes it.)
void seed_after(const DownloadArgs& a, Session& session, const Settings& settings, const DownloadRequest& req,
                const DownloadResult& r) {
    if (!req.local_dir.empty() || r.offline || !r.commit || settings.tracker.empty() || !settings.p2p) return;
    if (r.bytes_p2p + r.bytes_webseed + r.bytes_share == 0) return;
    if (const auto socket = daemon_socket(settings.cache_dir)) {
        (void)daemon::call(*socket, "POST", "/v1/scan", {}, std::chrono::seconds(2));
        if (!a.quiet) fmt::print(stderr, "llmpt: the daemon serving this cache seeds it from now on\n");
        return;
    }
    if (a.seed_time <= 0 || g_interrupted.load()) return;
    // The tracker's count first (its REST API, one small request): when no
    // peer is downloading the snapshot (a cohort of one, the last of a
    // swarm) there is nobody to serve, and seeding only to learn that from
    // an announce costs tens of milliseconds (the torrent added again, when
    // the download did not leave it seeding: about 0.15 s). Our own
    // download may still count as a leecher for a moment: then the seeding
    // below finds out.
    if (const auto found = TrackerClient(settings.tracker, TrackerOptions::from(settings))
                               .lookup(req.repo_type, req.repo, r.commit->str());
        found && *found && (*found)->leechers == 0) {
        if (!a.quiet) fmt::print(stderr, "llmpt: no peer is downloading this snapshot: not seeding (--seed-time)\n");
        return;
    }
    SeedRequest sr;
    sr.repo = req.repo;
    sr.repo_type = req.repo_type;
    sr.revision = r.commit->str();
    sr.cache_dir = settings.cache_dir;
    sr.tracker = settings.tracker;
    auto seeder = Seeder::start(session, sr);
    if (!seeder) {
        if (!a.quiet) fmt::print(stderr, "llmpt: not seeding: {}\n", seeder.error().what());
        return;
    }
    if (!a.quiet) {
        const auto peers = r.seeding ? fmt::format(", still connected to {} peers", (*seeder)->status().peers) : "";
        fmt::print(stderr, "llmpt: seeding for up to {} s while peers need it{} (--seed-time; Ctrl+C stops)\n",
                   a.seed_time, peers);
    }
    const auto start = std::chrono::steady_clock::now();
    auto last_needed = start, last_asked = start;
    auto ask_every = std::chrono::milliseconds(25);
    while (!g_interrupted.load() && std::chrono::steady_clock::now() - start < std::chrono::seconds(a.seed_time)) {
        (*seeder)->maintain();
        const auto st = (*seeder)->status();
        const auto now = std::chrono::steady_clock::now();
        const bool answered = st.swarm_leechers >= 0; // the tracker answered our announce
        if (st.leechers > 0) {
            last_needed = now;
            ask_every = std::chrono::milliseconds(0); // when the last one is done, ask at once
        }
        // Nobody left: at once when the tracker knows no leecher either;
        // else after 5 s without a connected one (the tracker's may be gone
        // without a word, or unable to reach us).
        if (st.leechers == 0 && answered && st.swarm_leechers == 0) break;
        // Its count is from our last announce: the peers that were leeching
        // then may have finished since (a swarm's nodes finish within
        // moments of each other). Ask again, soon and then less often (a
        // scrape 25 ms on, doubling to 2 s; libtorrent spaces forced
        // announces a second apart).
        if (st.leechers == 0 && answered && now - last_asked >= ask_every) {
            (*seeder)->refresh_counts();
            last_asked = now;
            ask_every = std::clamp<std::chrono::milliseconds>(ask_every * 2, std::chrono::milliseconds(25),
                                                              std::chrono::seconds(2));
        }
        if (now - last_needed >= std::chrono::seconds(5)) break;
        // Status reads are cheap: look again soon, and within milliseconds
        // while an answer is due (on a LAN it comes in one or two).
        const bool answer_due = last_asked != start && now - last_asked < std::chrono::milliseconds(250);
        std::this_thread::sleep_for(std::chrono::milliseconds(answer_due ? 5 : 25));
    }
    const auto st = (*seeder)->status();
    (*seeder)->stop();
    if (!a.quiet)
        fmt::print(stderr, "llmpt: seeded {:.1f} s, uploaded {} bytes\n",
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), st.uploaded);
}

int run_in_process(const DownloadArgs& a, Settings settings, DownloadRequest req) {
    req.cancel = &g_interrupted;
    ProgressBar bar(!a.quiet && ::isatty(STDERR_FILENO), !a.quiet);
    const auto on_event = [&](const Event& e) { show(a, bar, e); };
    // With P2P the download (and the seeding after it) run in a session of
    // this command's, ended (bounded) before the command exits.
    std::unique_ptr<Session> session;
    if (settings.p2p && !settings.tracker.empty() && !settings.offline) {
        std::vector<std::string> urls{settings.tracker};
        if (settings.webseed) urls.push_back(settings.endpoint); // the Hub as a web seed
        auto s = start_session(settings, urls);
        if (!s) return report(s.error());
        session = std::move(*s);
        // Into the cache, with time to seed and no daemon to hand it to: the
        // torrent stays seeding for seed_after, peers and all.
        req.keep_seeding = req.local_dir.empty() && a.seed_time > 0 && !daemon_socket(settings.cache_dir);
    }
    auto result = session ? download(*session, settings, req, on_event) : download(settings, req, on_event);
    bar.finish();
    if (!result) {
        if (result.error().code == errc::interrupted)
            fmt::print(stderr, "llmpt: interrupted; run the same command again to resume\n");
        return report(result.error());
    }
    const int code = print_result(a, *result);
    if (session) seed_after(a, *session, settings, req, *result);
    return code;
}

// The download as a task of the daemon that serves the cache: the request
// carries this process's settings (its environment may differ from the
// daemon's), the same request joins a running task, and Ctrl+C only
// detaches. nullopt: the daemon did not take it (the caller downloads itself).
std::optional<int> run_in_daemon(const DownloadArgs& a, const std::filesystem::path& socket,
                                 const daemon::TaskRequest& task) {
    auto posted = daemon::call(socket, "POST", "/v1/tasks", task.to_json(), std::chrono::seconds(10));
    if (!posted) {
        if (!a.quiet)
            fmt::print(stderr, "llmpt: the daemon does not answer ({}); downloading here\n", posted.error().what());
        return std::nullopt;
    }
    const auto answer = nlohmann::json::parse(posted->body, nullptr, false);
    if (posted->status == 400) {
        const auto msg = answer.is_object() ? answer.value("error", std::string()) : posted->body;
        return report(Error(errc::usage, "the daemon refused the download: " + msg));
    }
    if ((posted->status != 200 && posted->status != 201) || !answer.is_object() || !answer.contains("id")) {
        if (!a.quiet) fmt::print(stderr, "llmpt: the daemon answered {}; downloading here\n", posted->status);
        return std::nullopt;
    }
    const auto id = answer.value("id", std::string());
    if (!a.quiet)
        fmt::print(stderr, "llmpt: {} task {} of the daemon (--in-process downloads here instead)\n",
                   answer.value("existing", false) ? "following the running" : "downloading as", id);

    install_interrupt_handler();
    ProgressBar bar(!a.quiet && ::isatty(STDERR_FILENO), !a.quiet);
    std::optional<nlohmann::json> final_task;
    std::optional<daemon::TaskState> final_state;
    // A client that joins a running task learns what happened before from
    // the "state" event: its plan and the files already usable are shown
    // as if they had just happened, each once.
    bool plan_shown = false;
    std::set<std::string> files_shown;
    const auto show_once = [&](const Event& e) {
        if (std::holds_alternative<PlanEvent>(e)) {
            if (std::exchange(plan_shown, true)) return;
        } else if (const auto* f = std::get_if<FileReadyEvent>(&e)) {
            if (!files_shown.insert(f->path).second) return;
        }
        show(a, bar, e);
    };
    auto st = daemon::follow(
        socket, id,
        [&](const daemon::TaskEvent& ev) {
            const auto state = daemon::parse_task_state(ev.event);
            const bool last = state && daemon::is_final(*state);
            if (last || ev.event == "state") {
                const auto task = nlohmann::json::parse(ev.data, nullptr, false);
                if (last) {
                    final_state = state;
                    final_task = task;
                }
                if (!task.is_object()) return;
                if (task.contains("plan") && task["plan"].is_object())
                    if (auto e = event_from_json(task["plan"].dump())) show_once(*e);
                if (task.contains("files_ready") && task["files_ready"].is_array())
                    for (const auto& f : task["files_ready"])
                        if (auto e = event_from_json(f.dump())) show_once(*e);
            } else if (auto e = event_from_json(ev.data)) {
                show_once(*e);
            }
        },
        &g_interrupted);
    bar.finish();
    if (!st && st.error().code == errc::interrupted) {
        fmt::print(stderr,
                   "llmpt: detached; task {} goes on in the daemon. Run the same command again to follow it, "
                   "or see `llmpt daemon status`.\n",
                   id);
        return 130;
    }
    if (!st) return report(st.error());
    if (!final_task || !final_task->is_object())
        return report(Error(errc::failure, "the daemon stopped before task " + id +
                                               " finished; it resumes when the daemon starts again"));
    if (final_state == daemon::TaskState::cancelled) return report(Error(errc::interrupted, "task " + id + " was cancelled"));
    if (final_state == daemon::TaskState::failed) {
        const auto& err = (*final_task)["error"];
        const auto code = err.is_object() ? err.value("exit_code", 1) : 1;
        return report(Error(static_cast<errc>(code == 0 ? 1 : code),
                            err.is_object() ? err.value("message", std::string("failed")) : "failed"));
    }
    const auto result = result_from_json((*final_task)["result"].dump());
    if (!result) return report(Error(errc::failure, "the daemon's answer has no result"));
    return print_result(a, *result);
}

int run_download(DownloadArgs a) {
    auto settings = Settings::from_env();
    if (!a.quiet) warn_env(settings);
    if (!a.listen.empty()) {
        if (!parse_listen(a.listen, "0.0.0.0")) return usage_error("--listen must be HOST:PORT, got '" + a.listen + "'");
        settings.p2p_listen = a.listen;
    }
    const auto type = repo_type_option(a.repo_type);
    if (!type) return usage_error("--repo-type must be model, dataset or space");
    a.task.repo_type = *type;
    for (const auto& [flag, text, out] : {std::tuple{"--max-upload-rate", a.max_upload_rate, &settings.p2p_upload_rate_limit},
                                          std::tuple{"--max-download-rate", a.max_download_rate,
                                                     &settings.p2p_download_rate_limit}}) {
        if (text.empty()) continue;
        const auto rate = parse_rate(text);
        if (!rate) return usage_error(std::string(flag) + " must be bytes per second like 500K or 20M, got '" + text + "'");
        *out = *rate;
    }
    DownloadRequest req;
    if (auto st = a.task.apply(settings, req); !st) return report(st.error());

    if (!a.in_process && !settings.offline) {
        if (const auto socket = daemon_socket(settings.cache_dir)) {
            // Spell out what this process would use, so the daemon downloads the same thing.
            auto task = a.task;
            std::error_code ec;
            task.cache_dir = std::filesystem::absolute(settings.cache_dir, ec).string();
            if (!task.local_dir.empty()) task.local_dir = std::filesystem::absolute(task.local_dir, ec).string();
            task.endpoint = settings.endpoint;
            task.token = settings.token;
            task.tracker = settings.tracker;
            if (auto code = run_in_daemon(a, *socket, task)) return *code;
        }
    }
    install_interrupt_handler();
    return run_in_process(a, std::move(settings), std::move(req));
}

} // namespace

Runner add_download(CLI::App& app) {
    auto a = std::make_shared<DownloadArgs>();
    auto& t = a->task;
    auto* cmd = app.add_subcommand("download", "Download a repo revision into the HuggingFace cache");
    cmd->footer("Prints the snapshot folder (or --local-dir). Environment: HF_ENDPOINT, HF_TOKEN, "
                "HF_HUB_CACHE, HF_HOME, HF_HUB_OFFLINE, LLMPT_TRACKER.");
    cmd->add_option("repo", t.repo, "Repo id, e.g. org/name")->required();
    cmd->add_option("files", t.files, "Only these files (repo-relative paths)");
    cmd->add_option("--revision", t.revision, "Branch, tag, refs/pr/N or commit")->capture_default_str();
    cmd->add_option("--repo-type", a->repo_type, "model, dataset or space")->capture_default_str();
    cmd->add_option("--include", t.include, "Only paths matching this glob (repeatable)");
    cmd->add_option("--exclude", t.exclude, "Skip paths matching this glob (repeatable)");
    cmd->add_option("--cache-dir", t.cache_dir, "Cache root (default: HF_HUB_CACHE or ~/.cache/huggingface/hub)");
    cmd->add_option("--local-dir", t.local_dir, "Write plain files into this folder instead of the cache");
    cmd->add_option("--endpoint", t.endpoint, "Hub endpoint (default: HF_ENDPOINT or https://huggingface.co)");
    cmd->add_option("--token", t.token, "Hub token (default: HF_TOKEN)");
    cmd->add_option("--connections", t.connections, "Parallel HTTP transfers (default 8)")
        ->check(CLI::Range(1, 64));
    cmd->add_option("--chunk-size", t.chunk_size, "MiB per ranged HTTP request for large files (default 32)")
        ->check(CLI::Range(1, 4096));
    cmd->add_option("--tracker", t.tracker, "llmpt tracker base URL (default: LLMPT_TRACKER, HF_P2P_TRACKER)");
    cmd->add_flag("--no-p2p", t.no_p2p, "HTTP only: do not ask the tracker or peers");
    cmd->add_flag("--no-webseed", t.no_webseed, "Do not let the P2P session fetch pieces from the Hub");
    cmd->add_option("--p2p-timeout", t.p2p_timeout, "Seconds without P2P progress before HTTP takes over (default 10)")
        ->check(CLI::Range(1, 3600));
    cmd->add_option("--listen", a->listen, "HOST:PORT for peers (default 0.0.0.0:0)");
    cmd->add_option("--seed-time", a->seed_time,
                    "After a download into the cache, seconds to go on serving its files to peers that still "
                    "need them; it stops earlier once no leecher is left, and at once with 0 or when a "
                    "daemon serves the cache (it seeds instead). Default 60: machines that start together finish "
                    "together without a daemon, and a download nobody else wants exits right away")
        ->check(CLI::Range(0, 86400))->capture_default_str();
    cmd->add_option("--max-upload-rate", a->max_upload_rate, "Cap what this process sends to peers (bytes/s: 500K, 20M; 0: none)");
    cmd->add_option("--max-download-rate", a->max_download_rate, "Cap what this process receives from peers (bytes/s)");
    cmd->add_flag("--json", a->json, "Print a JSON summary instead of the path");
    cmd->add_flag("--events", a->events,
                  "Print NDJSON events on stdout as they happen: plan, one 'file' per file as soon as it is "
                  "verified and usable (completion order), warnings, then 'done' with the summary");
    cmd->add_flag("-q,--quiet", a->quiet, "No progress output");
    cmd->add_flag("--in-process", a->in_process,
                  "Download in this process even when a daemon serves the cache (by default the daemon runs the "
                  "download as a task: Ctrl+C then only detaches, and the same command re-attaches)");
    return [a] { return run_download(*a); };
}

} // namespace llmpt::cli
