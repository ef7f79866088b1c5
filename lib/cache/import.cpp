// import_folder(): a plain folder becomes a cache repo, as if downloaded.
#include <llmpt/cache.hpp>

#include "cache/layout.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace llmpt {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kLfsThreshold = 10ull << 20; // the Hub's default for LFS
constexpr std::size_t kSniff = 8000;                  // git's binary heuristic window

struct Entry {
    std::string path;
    fs::path source;
    std::uint64_t size = 0;
    std::optional<Etag> etag;
};

Result<std::vector<Entry>> list_sources(const fs::path& root) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) return Error(errc::usage, "not a folder", root.string());
    std::vector<Entry> out;
    fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
    if (ec) return util::errno_error(ec.value(), "cannot read folder", root.string());
    for (; it != end; it.increment(ec)) {
        if (ec) return util::errno_error(ec.value(), "cannot read folder", root.string());
        const auto name = it->path().filename().string();
        if (it->is_directory(ec) && (name == ".git" || name == ".cache" || name == ".huggingface")) {
            it.disable_recursion_pending();
            continue;
        }
        if (it->is_directory(ec)) continue;
        if (!it->is_regular_file(ec))
            return Error(errc::usage, "not a regular file", it->path().string());
        out.push_back(Entry{it->path().lexically_relative(root).generic_string(), it->path(),
                            static_cast<std::uint64_t>(it->file_size(ec)), std::nullopt});
    }
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
    return out;
}

// Hashes the source while copying it into blobs/ (one read of every byte).
Status import_file(const cache::RepoCache& cache, Entry& e) {
    auto in = util::open_fd(e.source, O_RDONLY);
    if (!in) return in.error();
    std::vector<char> buf(1 << 20);
    ssize_t first = 0;
    do first = ::pread(in->get(), buf.data(), std::min(kSniff, buf.size()), 0);
    while (first < 0 && errno == EINTR);
    if (first < 0) return util::errno_error(errno, "read", e.source.string());
    const bool binary = std::memchr(buf.data(), 0, static_cast<std::size_t>(first)) != nullptr;
    const auto kind = (e.size >= kLfsThreshold || binary) ? Etag::Kind::sha256 : Etag::Kind::git_sha1;

    const auto tmp = cache.repo_dir() / "blobs" / ("import." + util::random_hex8() + ".incomplete");
    auto out = util::open_fd(tmp, O_WRONLY | O_CREAT | O_EXCL);
    if (!out) return out.error();
    auto h = util::hasher_for(kind, e.size);
    std::uint64_t off = 0;
    for (;;) {
        const ssize_t n = ::read(in->get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::unlink(tmp.c_str());
            return util::errno_error(errno, "read", e.source.string());
        }
        if (n == 0) break;
        h.update(buf.data(), static_cast<std::size_t>(n));
        if (auto st = util::pwrite_all(out->get(), buf.data(), static_cast<std::size_t>(n), off, tmp.string());
            !st) {
            ::unlink(tmp.c_str());
            return st;
        }
        off += static_cast<std::uint64_t>(n);
    }
    if (off != e.size) {
        ::unlink(tmp.c_str());
        return Error(errc::failure, "file changed while it was imported", e.source.string());
    }
    e.etag = Etag::parse(h.hex_digest());
    const auto blob = cache.blob_path(*e.etag);
    if (cache.has_blob(*e.etag, e.size)) {
        ::unlink(tmp.c_str());
        return ok();
    }
    if (::rename(tmp.c_str(), blob.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return util::errno_error(err, "cannot place blob", blob.string());
    }
    return ok();
}

} // namespace

Result<ImportResult> import_folder(const ImportRequest& req) {
    auto id = RepoId::parse(req.repo);
    if (!id) return id.error();
    if (!cache::safe_revision(req.revision)) return Error(errc::usage, "invalid revision", req.revision);
    auto entries = list_sources(req.source);
    if (!entries) return entries.error();
    if (entries->empty()) return Error(errc::usage, "nothing to import: the folder is empty", req.source.string());

    const cache::RepoCache cache(req.cache_dir, RepoRef{req.repo_type, *id});
    if (auto st = cache.ensure_layout(); !st) return st.error();

    std::uint64_t bytes = 0;
    util::Hasher commit_hash(util::Hasher::Algo::sha1);
    commit_hash.update("llmpt-import v1\n");
    for (auto& e : *entries) {
        if (auto st = import_file(cache, e); !st) return st.error();
        commit_hash.update(e.path);
        commit_hash.update(std::string_view("\0", 1));
        commit_hash.update(e.etag->str() + "\n");
        bytes += e.size;
    }
    const auto commit = *CommitId::parse(commit_hash.hex_digest());
    std::vector<cache::ManifestEntry> manifest;
    for (const auto& e : *entries) {
        if (auto st = cache.link_snapshot(commit, e.path, *e.etag); !st) return st.error();
        manifest.push_back({e.path, *e.etag, e.size});
    }
    if (auto st = cache::write_manifest(cache, commit, manifest); !st) return st.error();
    if (req.revision != commit.str())
        if (auto st = cache.write_ref(req.revision, commit); !st) return st.error();
    return ImportResult{commit, cache.snapshot_dir(commit), entries->size(), bytes};
}

} // namespace llmpt
