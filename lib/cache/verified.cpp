#include "cache/verified.hpp"

#include "util/fd.hpp"
#include "util/hash.hpp"

#include <fmt/format.h>

#include <sys/stat.h>

#include <cstdio>
#include <iterator>
#include <set>
#include <sstream>

namespace llmpt::cache {

namespace {
fs::path memory_path(const RepoCache& c) { return c.repo_dir() / ".llmpt" / "verified"; }
} // namespace

VerifiedBlobs::VerifiedBlobs(const RepoCache& cache) : cache_(cache) {
    auto text = util::read_small_file(memory_path(cache), 64u << 20);
    if (!text) return;
    std::istringstream in(*text);
    std::string etag;
    Stamp s;
    while (in >> etag >> s.ino >> s.size >> s.mtime_ns)
        if (Etag::parse(etag)) seen_[etag] = s;
}

std::optional<VerifiedBlobs::Stamp> VerifiedBlobs::stamp(const Etag& etag) const {
    struct stat st {};
    if (::stat(cache_.blob_path(etag).c_str(), &st) != 0) return std::nullopt;
    return Stamp{static_cast<unsigned long long>(st.st_ino), static_cast<unsigned long long>(st.st_size),
                 static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull +
                     static_cast<unsigned long long>(st.st_mtim.tv_nsec)};
}

bool VerifiedBlobs::known(const Etag& etag) const {
    const auto it = seen_.find(etag.str());
    return it != seen_.end() && stamp(etag) == it->second;
}

void VerifiedBlobs::remember(const Etag& etag) {
    if (auto s = stamp(etag)) seen_[etag.str()] = *s;
}

Status VerifiedBlobs::save() const {
    std::string out;
    for (const auto& [etag, s] : seen_) fmt::format_to(std::back_inserter(out), "{} {} {} {}\n", etag, s.ino, s.size, s.mtime_ns);
    std::error_code ec;
    fs::create_directories(memory_path(cache_).parent_path(), ec);
    return util::write_file_atomic(memory_path(cache_), out);
}

Result<std::uint64_t> verify_blobs(const RepoCache& cache, const std::map<std::string, Etag>& files,
                                   VerifiedBlobs& verified) {
    std::uint64_t hashed = 0;
    std::set<std::string> done;
    for (const auto& [path, etag] : files) {
        if (!done.insert(etag.str()).second || verified.known(etag)) continue;
        auto digest = util::hash_file(cache.blob_path(etag), etag.kind());
        if (!digest) return digest.error();
        if (*digest != etag.str())
            return Error(errc::integrity, "blob of " + path + " does not match its hash; it will not be shared",
                         cache.blob_path(etag).string());
        std::error_code ec;
        hashed += fs::file_size(cache.blob_path(etag), ec);
        verified.remember(etag);
    }
    return hashed;
}

} // namespace llmpt::cache
