// Download a repo revision into the HuggingFace cache (or a local folder).
//
//   llmpt::Settings s = llmpt::Settings::from_env();
//   llmpt::DownloadRequest req{.repo = "gpt2"};
//   auto r = llmpt::download(s, req, [](const llmpt::Event& e) { ... });
//   if (!r) { std::cerr << r.error().what(); return r.error().exit_code(); }
//   std::cout << r->path;
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/events.hpp>
#include <llmpt/repo.hpp>
#include <llmpt/session.hpp>
#include <llmpt/settings.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmpt {

// Follows the bytes of a download as they arrive, for a caller that passes
// them on before the download ends (the daemon's HF endpoint streams them to
// a client). Called from the download's threads, often: return at once.
class FileWatch {
public:
    virtual ~FileWatch() = default;
    // `file` holds the first `prefix` bytes of `path` (repo-relative) as the
    // downloader read them back to hash them. They are not verified yet: the
    // file may still fail the Hub's hash and be fetched again, into the same
    // or another file.
    virtual void progress(const std::string& path, const std::filesystem::path& file, std::uint64_t prefix) = 0;
    // `path` passed the Hub's hash and is at `placed`.
    virtual void placed(const std::string& path, const std::filesystem::path& placed) = 0;
    // The download ended (`ok`: every selected file is in place).
    virtual void ended(bool ok) = 0;
    // Files a reader waits on, with the offset it waits at: the P2P path
    // asks the swarm for the pieces there first.
    virtual std::vector<std::pair<std::string, std::uint64_t>> waiting() { return {}; }
};

struct DownloadRequest {
    std::string repo;                        // "org/name"
    RepoType repo_type = RepoType::model;
    std::string revision = "main";           // branch, tag, refs/pr/N or commit
    std::vector<std::string> files;          // explicit files; empty = whole repo
    std::vector<std::string> include;        // allow_patterns (fnmatch)
    std::vector<std::string> exclude;        // ignore_patterns (fnmatch)
    std::filesystem::path local_dir;         // non-empty: plain files here
    // Set to true from any thread (a signal handler, another thread) to stop
    // the download; it then fails with errc::interrupted, keeping partial
    // files for a later resume.
    const std::atomic<bool>* cancel = nullptr;
    // Told of each file's bytes as they arrive (llmpt::FileWatch); may be null.
    std::shared_ptr<FileWatch> watch;
    // When the download ends holding every file of the snapshot's torrent,
    // the torrent stays in the session, seeding: a Seeder of the snapshot
    // started in the same session takes it over with its peers and their
    // requests, instead of adding it anew (which drops every connection
    // while the swarm still needs this machine). Nothing else touches it:
    // it ends with the session. Off: the torrent is removed at the end.
    bool keep_seeding = false;
};

struct DownloadResult {
    std::string repo;                        // "org/name"
    // Unknown only when a local_dir download is answered offline: the folder
    // does not say which commit its files came from.
    std::optional<CommitId> commit;
    std::filesystem::path path;              // snapshot folder, or local_dir
    std::size_t files = 0;                   // files in the selection
    std::uint64_t bytes_total = 0;
    std::uint64_t bytes_p2p = 0;
    std::uint64_t bytes_webseed = 0;
    std::uint64_t bytes_http = 0;            // fetched over HTTP this run
    std::uint64_t bytes_cached = 0;          // already present (incl. resumed bytes)
    // Of bytes_http: this node's share of a cold start, fetched from the Hub
    // for the cohort (docs/design.md, "The cold start").
    std::uint64_t bytes_share = 0;
    double seconds = 0;
    bool offline = false;                    // served from the cache without the Hub
    // The snapshot's torrent stayed in the session, seeding
    // (DownloadRequest::keep_seeding). Not part of the JSON.
    bool seeding = false;
};

// {"repo","commit","path","files","bytes_total","bytes_p2p","bytes_webseed",
//  "bytes_http","bytes_cached","bytes_share","seconds"}: `llmpt download --json` (docs/design.md, "CLI and exit codes").
std::string to_json(const DownloadResult& r);
std::optional<DownloadResult> result_from_json(std::string_view text);

// Downloads in `session` (llmpt/session.hpp), which the caller owns: P2P
// torrents run there, next to the caller's other downloads and seeds.
Result<DownloadResult> download(Session& session, const Settings& settings, const DownloadRequest& request,
                                const EventHandler& on_event = {});
// The same for a caller without a session: one is started for this
// download if peers have the snapshot, and ended (bounded) before it returns.
Result<DownloadResult> download(const Settings& settings, const DownloadRequest& request,
                                const EventHandler& on_event = {});

// huggingface_hub's filter_repo_objects: a path is selected when it matches
// any include pattern (or there are none) and no exclude pattern. Patterns are
// fnmatch-style, '*' crosses '/', and a pattern ending in '/' matches
// everything below that folder.
bool path_selected(const std::string& path, const std::vector<std::string>& include,
                   const std::vector<std::string>& exclude);

} // namespace llmpt
