#include "hub/listed.hpp"

#include <algorithm>

namespace llmpt::hub {

Status ListedHub::same_commit(const CommitId& commit) const {
    if (commit == commit_) return ok();
    return Error(errc::network, "the Hub cannot be reached and the cache lists only commit " + commit_.str());
}

Result<CommitId> ListedHub::resolve_revision(const RepoRef&, const std::string&) { return commit_; }

Result<std::vector<RemoteFile>> ListedHub::list_files(const RepoRef&, const CommitId& commit) {
    if (auto st = same_commit(commit); !st) return st.error();
    return files_;
}

Result<std::vector<RemoteFile>> ListedHub::paths_info(const RepoRef&, const CommitId& commit,
                                                      const std::vector<std::string>& paths) {
    if (auto st = same_commit(commit); !st) return st.error();
    std::vector<RemoteFile> out;
    for (const auto& f : files_)
        if (std::find(paths.begin(), paths.end(), f.path) != paths.end()) out.push_back(f);
    return out;
}

Result<RemoteFile> ListedHub::file_metadata(const RepoRef& repo, const CommitId& commit, const std::string& path) {
    if (auto st = same_commit(commit); !st) return st.error();
    for (const auto& f : files_)
        if (f.path == path) return f;
    return Error(errc::not_found, "file " + path + " not found in " + repo.id.str() + " at " + commit.str());
}

} // namespace llmpt::hub
