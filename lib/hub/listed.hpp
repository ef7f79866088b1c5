// hub/listed: the Hub's answers for one commit from a file list kept
// earlier (the commit's manifest in the cache), for a download that goes on
// while the Hub cannot be reached: the files are still checked against the
// Hub's own hashes, only as the Hub gave them before. URLs and headers for
// HTTP still name the live Hub (it may come back).
#pragma once

#include "hub/hub.hpp"

namespace llmpt::hub {

class ListedHub final : public HubApi {
public:
    ListedHub(const HubApi& live, CommitId commit, std::vector<RemoteFile> files)
        : live_(live), commit_(commit), files_(std::move(files)) {}

    // Every revision is the listed commit: it was resolved from the cache's refs/.
    Result<CommitId> resolve_revision(const RepoRef& repo, const std::string& revision) override;
    Result<std::vector<RemoteFile>> list_files(const RepoRef& repo, const CommitId& commit) override;
    Result<std::vector<RemoteFile>> paths_info(const RepoRef& repo, const CommitId& commit,
                                               const std::vector<std::string>& paths) override;
    Result<RemoteFile> file_metadata(const RepoRef& repo, const CommitId& commit, const std::string& path) override;
    std::string file_url(const RepoRef& repo, const CommitId& commit, const std::string& path) const override {
        return live_.file_url(repo, commit, path);
    }
    std::vector<std::string> auth_headers() const override { return live_.auth_headers(); }

private:
    Status same_commit(const CommitId& commit) const;

    const HubApi& live_;
    CommitId commit_;
    std::vector<RemoteFile> files_;
};

} // namespace llmpt::hub
