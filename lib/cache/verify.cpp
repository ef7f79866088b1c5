// verify_snapshot(): rehash every file of a snapshot against its blob's etag.
#include <llmpt/cache.hpp>

#include "cache/layout.hpp"
#include "util/hash.hpp"

namespace llmpt {

namespace fs = std::filesystem;

Result<VerifyReport> verify_snapshot(const fs::path& cache_dir, const RepoRef& repo,
                                     const std::string& revision) {
    const cache::RepoCache cache(cache_dir, repo);
    const auto commit = cache.resolve_offline(revision);
    if (!commit)
        return Error(errc::not_found,
                     repo.id.str() + "@" + revision + " is not in the cache at " + cache_dir.string());
    VerifyReport report{.commit = *commit};
    auto st = cache.for_each_snapshot_entry(*commit, [&](const std::string& rel, const fs::path& path) -> Status {
        std::error_code ec;
        if (!fs::is_symlink(path, ec)) {
            report.problems.push_back({rel, "not a symlink into blobs/"});
            return ok();
        }
        const auto target = fs::read_symlink(path, ec).string();
        const auto etag = Etag::parse(fs::path(target).filename().string());
        if (!etag || target != cache::blob_link_target(rel, *etag)) {
            report.problems.push_back({rel, "symlink does not point at ../blobs/{etag}: " + target});
            return ok();
        }
        const auto blob = cache.blob_path(*etag);
        if (!fs::is_regular_file(blob, ec)) {
            report.problems.push_back({rel, "missing blob " + etag->str()});
            return ok();
        }
        auto digest = util::hash_file(blob, etag->kind());
        if (!digest) return digest.error();
        ++report.files_checked;
        report.bytes_checked += fs::file_size(blob, ec);
        if (*digest != etag->str())
            report.problems.push_back({rel, std::string(etag->kind() == Etag::Kind::sha256 ? "sha256" : "git-sha1") +
                                                " mismatch: blob hashes to " + *digest});
        return ok();
    });
    if (!st) return st.error();
    return report;
}

} // namespace llmpt
