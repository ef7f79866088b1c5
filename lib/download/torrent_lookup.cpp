#include "download/torrent_lookup.hpp"

#include "torrent/inspect.hpp"

#include <llmpt/tracker.hpp>

namespace llmpt::fetch {

std::optional<std::string> refuse_torrent(std::string_view torrent, const CommitId& commit,
                                          const std::vector<hub::RemoteFile>& hub_files) {
    auto facts = torrent::inspect(torrent);
    if (!facts) return "it is unusable (" + facts.error().message + ")";
    if (auto st = torrent::check_snapshot_torrent(*facts, commit.str()); !st) return st.error().message;
    return torrent::differs_from_hub(facts->files, hub_files);
}

Lookup find_torrent(const Settings& settings, const RepoRef& repo, const CommitId& commit,
                    const FullList& hub_files, const WarnFn& warn, bool need_peers) {
    TrackerClient tracker(settings.tracker, TrackerOptions::from(settings));
    auto record = tracker.lookup(repo.type, repo.id.str(), commit.str());
    if (!record) {
        warn(record.error().message + "; downloading over HTTP");
        return {};
    }
    if (!*record) return {std::nullopt, true}; // nobody shares it yet
    // Nobody announces it right now: HTTP at once, as fast as --no-p2p.
    if (need_peers && (*record)->seeders + (*record)->leechers == 0) return {};
    auto data = tracker.fetch_torrent(repo.type, repo.id.str(), commit.str());
    if (!data) {
        warn(data.error().message + "; downloading over HTTP");
        return {};
    }
    auto files = hub_files();
    if (!files) return {};
    if (auto why = refuse_torrent(*data, commit, *files)) {
        warn("the tracker's torrent was rejected: " + *why + "; downloading over HTTP");
        return {};
    }
    return {std::move(*data), false};
}

} // namespace llmpt::fetch
