// What a repo's blobs were verified as, keyed by (inode, size, mtime), so a
// restart does not rehash blobs that did not change. Lives in the repo
// folder's .llmpt/verified; a blob whose stat changed is hashed again.
#pragma once

#include "cache/layout.hpp"

#include <map>
#include <string>

namespace llmpt::cache {

class VerifiedBlobs {
public:
    explicit VerifiedBlobs(const RepoCache& cache);
    // True when blobs/{etag} still has the stat it had when it was verified.
    bool known(const Etag& etag) const;
    void remember(const Etag& etag);
    Status save() const;

private:
    struct Stamp {
        unsigned long long ino = 0, size = 0, mtime_ns = 0;
        bool operator==(const Stamp&) const = default;
    };
    std::optional<Stamp> stamp(const Etag& etag) const;
    const RepoCache& cache_;
    std::map<std::string, Stamp> seen_;
};

// Verifies every blob of a snapshot against its etag, except the ones
// VerifiedBlobs vouches for. Returns the bytes hashed now.
Result<std::uint64_t> verify_blobs(const RepoCache& cache, const std::map<std::string, Etag>& files,
                                   VerifiedBlobs& verified);

} // namespace llmpt::cache
