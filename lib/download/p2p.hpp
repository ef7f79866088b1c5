// P2P part of a download (docs/design.md, "A download"): the tracker's torrent for
// the commit, checked against the Hub's file list before any piece is
// requested; only the wanted files; each completed file verified against
// the Hub's hash and hard-linked from staging into place (the cache's
// blobs/, or a local dir: download/destination.hpp). What the swarm
// does not deliver in time is handed back for HTTP, with the pieces already
// received kept (they become the HTTP fetcher's resume state).
#pragma once

#include "cache/layout.hpp"
#include "download/destination.hpp"
#include "download/plan.hpp"
#include "hub/hub.hpp"

#include <llmpt/settings.hpp>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace llmpt::fetch {

struct P2PCallbacks {
    std::function<void(const std::string&)> warn;
    ReadyFn ready;
    std::function<void(std::uint64_t done_now, std::vector<std::string> active)> progress;
};

struct P2POutcome {
    std::vector<Wanted> remaining;     // for HTTP
    std::uint64_t bytes_p2p = 0;       // from peers in this run
    std::uint64_t bytes_webseed = 0;   // from web seeds in this run
    std::uint64_t bytes_cached = 0;    // found in staging from an earlier run
    std::uint64_t handed_over = 0;     // of bytes_p2p+webseed, in files HTTP now completes
    // Partial files handed to HTTP: their staging name and where HTTP puts
    // the file. Staging shares the inode with HTTP's temp file (a later run
    // resumes from either); once HTTP has placed it, drop_staged() lets go.
    std::vector<std::pair<std::filesystem::path, std::filesystem::path>> staged;
};

// Unlinks the staging names of handed-over files that HTTP has placed, and
// empty staging folders.
void drop_staged(const std::vector<std::pair<std::filesystem::path, std::filesystem::path>>& staged,
                 const std::filesystem::path& staging);

// Never fails the download: any problem is a warning and HTTP takes over.
// Only a cancellation is an error.
using FullList = std::function<Result<std::vector<hub::RemoteFile>>()>;
Result<P2POutcome> fetch_p2p(const Settings& settings, const RepoRef& repo, const Destination& dest, const CommitId& commit,
                             hub::HubApi& hub, const FullList& all_files, std::vector<Wanted> todo,
                             const std::atomic<bool>* cancel, const P2PCallbacks& cb);

} // namespace llmpt::fetch
