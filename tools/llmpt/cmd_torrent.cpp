// llmpt create-torrent: the deterministic torrent of a cached snapshot.
#include "common.hpp"
#include "progress.hpp"

#include <llmpt/settings.hpp>
#include <llmpt/torrent.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>

namespace llmpt::cli {

namespace {

struct TorrentArgs {
    std::string repo, repo_type = "model", revision = "main", cache_dir, output, tracker;
    bool hybrid = false;
};

int run_create(const TorrentArgs& a) {
    const auto type = repo_type_option(a.repo_type);
    if (!type) return usage_error("--repo-type must be model, dataset or space");
    CreateTorrentRequest req;
    req.repo = a.repo;
    req.repo_type = *type;
    req.revision = a.revision;
    req.cache_dir = a.cache_dir.empty() ? default_cache_dir() : std::filesystem::path(a.cache_dir);
    req.hybrid = a.hybrid;
    req.tracker = a.tracker.empty() ? Settings::from_env().tracker : a.tracker;
    const bool tty = ::isatty(STDERR_FILENO);
    auto r = create_torrent(req, [&](std::uint64_t done, std::uint64_t total) {
        if (tty)
            fmt::print(stderr, "\rhashing {} / {}\033[K", human_bytes(done), human_bytes(total));
    });
    if (tty) fmt::print(stderr, "\r\033[K");
    if (!r) return report(r.error());

    if (a.output == "-") {
        std::fwrite(r->data.data(), 1, r->data.size(), stdout);
        return 0;
    }
    const std::string path = a.output.empty() ? r->commit.str() + ".torrent" : a.output;
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(r->data.data(), static_cast<std::streamsize>(r->data.size()));
        if (!out) {
            std::remove(tmp.c_str());
            return report(Error(errc::disk, "cannot write the torrent", path));
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return report(Error(errc::disk, "cannot write the torrent", path));
    }
    fmt::print("{}\n", path);
    fmt::print(stderr, "info_hash {}{}{}, {} files, {}, pieces of {}\n", r->info_hash.v2(),
               r->info_hash.hybrid() ? ", v1 " : "", r->info_hash.v1(), r->files, human_bytes(r->total_size),
               human_bytes(r->piece_length));
    return 0;
}

} // namespace

Runner add_create_torrent(CLI::App& app) {
    auto a = std::make_shared<TorrentArgs>();
    auto* cmd = app.add_subcommand("create-torrent", "Make the deterministic torrent of a cached snapshot");
    cmd->footer("Every machine with the same snapshot makes the same info hash (BitTorrent v2; --hybrid adds v1).");
    cmd->add_option("repo", a->repo, "Repo id")->required();
    cmd->add_option("--revision", a->revision, "Revision or commit")->capture_default_str();
    cmd->add_option("--repo-type", a->repo_type, "model, dataset or space")->capture_default_str();
    cmd->add_option("--cache-dir", a->cache_dir, "Cache root (default: the HF cache)");
    cmd->add_flag("--hybrid", a->hybrid, "Add v1 hashes, for v1-only clients");
    cmd->add_option("--tracker", a->tracker, "Tracker base URL to announce to (default: LLMPT_TRACKER)");
    cmd->add_option("-o,--output", a->output, "Output file (default: {commit}.torrent; '-': stdout)");
    return [a] { return run_create(*a); };
}

} // namespace llmpt::cli
