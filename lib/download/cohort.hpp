// A cold start's member (docs/design.md, "The cold start"): when the tracker
// has no torrent for a commit, this node joins the revision's cohort on the
// tracker, fetches the chunks it is leased from the Hub into staging (the
// verified HTTP path's client, ranged GETs), hashes their v2 pieces and
// reports them, until the tracker has every part and publishes the torrent.
// Then the download goes on as a P2P download of that torrent, with this
// node's share already in staging.
//
// Never fails the download: a tracker without the protocol, a refused join,
// a cohort that stalls or fails all end the cohort, and what staging holds
// is handed to HTTP. Only a cancellation is an error.
#pragma once

#include "download/destination.hpp"
#include "download/plan.hpp"
#include "hub/hub.hpp"

#include <llmpt/settings.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace llmpt::fetch {

struct CohortJob {
    const Settings& settings;
    const RepoRef& repo;
    const CommitId& commit;
    const Destination& dest;                       // staging_root() / commit holds the share
    hub::HubApi& hub;                              // file URLs and auth headers
    const std::vector<hub::RemoteFile>& files;     // the whole snapshot
    std::map<std::string, std::filesystem::path> cached; // path -> its blob, for files already here
    const std::atomic<bool>* cancel = nullptr;
    int workers = 4;                               // chunks fetched side by side
};

struct CohortOutcome {
    enum class End {
        none,      // no cohort: the tracker does not know the protocol, or refused
        published, // the torrent is on the tracker now: download it
        given_up,  // the cohort stalled or failed: HTTP for the rest
    };
    End end = End::none;
    std::uint64_t share_bytes = 0;   // fetched from the Hub as this node's share
    std::uint64_t chunks = 0;        // chunks this node reported
    std::uint64_t members = 0;       // as the tracker counted them last
    std::uint64_t piece_length = 0;
    // Per file, the pieces of it that staging holds from this node's share,
    // with the v2 hash this node computed of each (by piece index in the
    // file), and the Hub's hash over the share's run from the file's start.
    StagedShare staged;
};

struct CohortCallbacks {
    std::function<void(const std::string&)> warn;
    // Bytes of the share fetched so far, about 5 times a second on the
    // calling thread.
    std::function<void(std::uint64_t)> progress;
};

Result<CohortOutcome> run_cohort(const CohortJob& job, const CohortCallbacks& cb);

} // namespace llmpt::fetch
