// The tracker's torrent for a commit, checked against the Hub's file list
// before a single piece is asked for (docs/design.md, "A download"): a
// torrent that is malformed, breaks the snapshot rules or does not list
// exactly the Hub's files (same paths and sizes, nothing extra) is refused
// with a warning, and HTTP does the work.
#pragma once

#include "hub/hub.hpp"

#include <llmpt/repo.hpp>
#include <llmpt/settings.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace llmpt::fetch {

using FullList = std::function<Result<std::vector<hub::RemoteFile>>()>;
using WarnFn = std::function<void(const std::string&)>;

struct Lookup {
    std::optional<std::string> torrent; // checked against the Hub's files
    bool unpublished = false;           // the tracker answered: it has no torrent for the commit
};
// No torrent: none yet, nobody announces it (unless `need_peers` is false:
// a cohort that just published it), the tracker is unreachable, or the
// torrent was refused; `warn` says which unless there is simply none.
Lookup find_torrent(const Settings& settings, const RepoRef& repo, const CommitId& commit,
                    const FullList& hub_files, const WarnFn& warn, bool need_peers = true);

// Why `torrent` is not the snapshot torrent of `commit` with the Hub's
// files, if it is not.
std::optional<std::string> refuse_torrent(std::string_view torrent, const CommitId& commit,
                                          const std::vector<hub::RemoteFile>& hub_files);

} // namespace llmpt::fetch
