#include "cache/layout.hpp"

#include "util/fd.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sys/file.h>
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <thread>

namespace llmpt::cache {

namespace {

constexpr std::string_view kCachedirTag =
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by huggingface_hub.\n"
    "# For information about cache directory tags, see:\n"
    "#\thttps://bford.info/cachedir/\n";

Status make_dirs(const fs::path& p) {
    std::error_code ec;
    fs::create_directories(p, ec);
    if (ec) return util::errno_error(ec.value(), "cannot create folder", p.string());
    return ok();
}

} // namespace

std::string blob_link_target(const std::string& path, const Etag& etag) {
    std::string target = "../../";
    for (char c : path)
        if (c == '/') target += "../";
    return target + "blobs/" + etag.str();
}

bool safe_revision(std::string_view rev) {
    if (rev.empty() || rev.size() > 255 || rev.front() == '/' || rev.back() == '/') return false;
    std::size_t start = 0;
    while (start <= rev.size()) {
        auto end = rev.find('/', start);
        if (end == std::string_view::npos) end = rev.size();
        const auto seg = rev.substr(start, end - start);
        if (seg.empty() || seg == "." || seg == "..") return false;
        start = end + 1;
    }
    for (unsigned char c : rev)
        if (c < 0x20 || c == 0x7f || c == '\\') return false;
    return true;
}

RepoCache::RepoCache(fs::path root, RepoRef repo) : root_(std::move(root)), repo_(std::move(repo)) {}

Status RepoCache::ensure_layout() const {
    for (const auto& d : {repo_dir() / "blobs", repo_dir() / "snapshots", repo_dir() / "refs", lock_dir()})
        if (auto st = make_dirs(d); !st) return st;
    const auto tag = root_ / "CACHEDIR.TAG";
    if (!fs::exists(tag)) (void)util::write_file_atomic(tag, kCachedirTag);
    return ok();
}

bool RepoCache::has_blob(const Etag& e, std::uint64_t size) const {
    struct stat st {};
    return ::stat(blob_path(e).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           static_cast<std::uint64_t>(st.st_size) == size;
}

Status RepoCache::link_snapshot(const CommitId& c, const std::string& path, const Etag& e) const {
    const auto link = snapshot_dir(c) / path;
    if (auto st = make_dirs(link.parent_path()); !st) return st;
    const auto target = blob_link_target(path, e);
    std::error_code ec;
    if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec).string() == target) return ok();
    const auto tmp = link.string() + "." + util::random_hex8() + ".tmp";
    if (::symlink(target.c_str(), tmp.c_str()) != 0)
        return util::errno_error(errno, "cannot create symlink", tmp);
    if (::rename(tmp.c_str(), link.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return util::errno_error(err, "cannot place symlink", link.string());
    }
    return ok();
}

bool RepoCache::snapshot_has(const CommitId& c, const std::string& path) const {
    std::error_code ec;
    const auto link = snapshot_dir(c) / path;
    return fs::is_symlink(link, ec) && fs::is_regular_file(link, ec); // follows to the blob
}

Status RepoCache::write_ref(const std::string& revision, const CommitId& c) const {
    if (!safe_revision(revision)) return Error(errc::usage, "invalid revision name", revision);
    const auto path = ref_path(revision);
    if (auto st = make_dirs(path.parent_path()); !st) return st;
    return util::write_file_atomic(path, c.str());
}

std::optional<CommitId> RepoCache::read_ref(const std::string& revision) const {
    if (!safe_revision(revision)) return std::nullopt;
    auto s = util::read_small_file(ref_path(revision), 256);
    if (!s) return std::nullopt;
    auto v = *s;
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) v.pop_back();
    return CommitId::parse(v);
}

std::optional<CommitId> RepoCache::resolve_offline(const std::string& revision) const {
    std::error_code ec;
    if (auto c = CommitId::parse(revision); c && fs::is_directory(snapshot_dir(*c), ec)) return c;
    auto c = read_ref(revision);
    if (c && fs::is_directory(snapshot_dir(*c), ec)) return c;
    return std::nullopt;
}

Status RepoCache::mark_no_exist(const CommitId& c, const std::string& path) const {
    const auto p = no_exist_path(c, path);
    if (auto st = make_dirs(p.parent_path()); !st) return st;
    auto fd = util::open_fd(p, O_WRONLY | O_CREAT);
    if (!fd) return fd.error();
    return ok();
}

Status RepoCache::for_each_snapshot_entry(const CommitId& c, const SnapshotEntry& entry) const {
    const auto dir = snapshot_dir(c);
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, ec), end;
    if (ec) return Error(errc::not_found, "no snapshot " + c.str(), dir.string());
    for (; it != end; it.increment(ec)) {
        if (ec) return Error(errc::failure, "cannot read snapshot: " + ec.message(), dir.string());
        if (it->is_directory(ec) && !it->is_symlink(ec)) continue;
        if (auto st = entry(it->path().lexically_relative(dir).generic_string(), it->path()); !st) return st;
    }
    return ok();
}

Result<std::map<std::string, Etag>> RepoCache::snapshot_files(const CommitId& c) const {
    std::map<std::string, Etag> out;
    auto st = for_each_snapshot_entry(c, [&](const std::string& rel, const fs::path& path) {
        std::error_code ec;
        const auto target = fs::read_symlink(path, ec); // not a symlink: ec set
        if (auto etag = Etag::parse(target.filename().string()); !ec && etag) out.emplace(rel, *etag);
        return ok();
    });
    if (!st) return st.error();
    return out;
}

Result<std::map<std::string, Etag>> RepoCache::checked_snapshot_files(const CommitId& c) const {
    std::map<std::string, Etag> out;
    auto st = for_each_snapshot_entry(c, [&](const std::string& rel, const fs::path& path) -> Status {
        std::error_code ec;
        const auto target = fs::read_symlink(path, ec);
        const auto etag = Etag::parse(target.filename().string());
        if (ec || !etag || target.string() != blob_link_target(rel, *etag))
            return Error(errc::integrity, "snapshot entry is not a link into this repo's blobs/", rel);
        if (!fs::is_regular_file(blob_path(*etag), ec))
            return Error(errc::not_found, "snapshot is incomplete: missing blob for " + rel, rel);
        out.emplace(rel, *etag);
        return ok();
    });
    if (!st) return st.error();
    return out;
}

FileLock& FileLock::operator=(FileLock&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

FileLock::~FileLock() {
    if (fd_ >= 0) ::close(fd_); // closing releases the flock
}

Result<FileLock> FileLock::try_lock(const fs::path& path) {
    if (auto st = make_dirs(path.parent_path()); !st) return st.error();
    // No O_TRUNC: other lock holders may keep data in their lock files.
    auto fd = util::open_fd(path, O_RDWR | O_CREAT);
    if (!fd) return fd.error();
    if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) return FileLock();
        return util::errno_error(errno, "flock", path.string());
    }
    return FileLock(fd->release());
}

Result<FileLock> FileLock::lock(const fs::path& path, std::chrono::seconds timeout, const std::string& what,
                                const std::atomic<bool>* cancel) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto l = try_lock(path);
        if (!l || l->held()) return l;
        if (cancel && cancel->load())
            return Error(errc::interrupted, "interrupted while waiting for another process writing " + what,
                         path.string());
        if (std::chrono::steady_clock::now() >= deadline)
            return Error(errc::failure,
                         fmt::format("timed out after {} s waiting for another process writing {}",
                                     timeout.count(), what),
                         path.string());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

namespace {
fs::path manifest_path(const RepoCache& cache, const CommitId& c) {
    return cache.repo_dir() / ".llmpt" / "manifests" / (c.str() + ".json");
}
} // namespace

Status write_manifest(const RepoCache& cache, const CommitId& c, const std::vector<ManifestEntry>& files) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& f : files) list.push_back({{"path", f.path}, {"etag", f.etag.str()}, {"size", f.size}});
    const auto path = manifest_path(cache, c);
    if (auto st = make_dirs(path.parent_path()); !st) return st;
    return util::write_file_atomic(path, nlohmann::json{{"commit", c.str()}, {"files", list}}.dump());
}

std::optional<std::vector<ManifestEntry>> read_manifest(const RepoCache& cache, const CommitId& c) {
    auto text = util::read_small_file(manifest_path(cache, c), 64u << 20);
    if (!text) return std::nullopt;
    const auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("files") || !j["files"].is_array()) return std::nullopt;
    std::vector<ManifestEntry> out;
    for (const auto& e : j["files"]) {
        if (!e.is_object() || !e.contains("path") || !e["path"].is_string() || !e.contains("etag") ||
            !e["etag"].is_string() || !e.contains("size") || !e["size"].is_number_unsigned())
            return std::nullopt;
        auto etag = Etag::parse(e["etag"].get<std::string>());
        if (!etag) return std::nullopt;
        out.push_back({e["path"].get<std::string>(), *etag, e["size"].get<std::uint64_t>()});
    }
    return out;
}

fs::path local_dir_meta_dir(const fs::path& local_dir) {
    return local_dir / ".cache" / "huggingface" / "download";
}

Status write_local_dir_metadata(const fs::path& local_dir, const std::string& path,
                                const CommitId& commit, const Etag& etag) {
    const auto meta = local_dir_meta_dir(local_dir) / (path + ".metadata");
    if (auto st = make_dirs(meta.parent_path()); !st) return st;
    const auto now = std::chrono::duration<double>(
        std::chrono::system_clock::now().time_since_epoch()).count();
    return util::write_file_atomic(meta, fmt::format("{}\n{}\n{:.6f}\n", commit.str(), etag.str(), now));
}

bool local_dir_file_current(const fs::path& local_dir, const std::string& path, const Etag& etag,
                            std::uint64_t size) {
    auto meta = util::read_small_file(local_dir_meta_dir(local_dir) / (path + ".metadata"), 4096);
    if (!meta) return false;
    const auto first = meta->find('\n');
    if (first == std::string::npos) return false;
    const auto second = meta->find('\n', first + 1);
    if (meta->substr(first + 1, second - first - 1) != etag.str()) return false;
    std::error_code ec;
    return fs::is_regular_file(local_dir / path, ec) && fs::file_size(local_dir / path, ec) == size;
}

std::size_t sweep_staging(const RepoCache& cache) {
    std::error_code ec;
    const auto staging = cache.staging_dir();
    if (!fs::is_directory(staging, ec)) return 0;
    // The blobs by inode, read once and only if a candidate turns up.
    std::optional<std::map<std::pair<dev_t, ino_t>, Etag>> blobs;
    const auto blob_of = [&](const struct stat& st) -> std::optional<Etag> {
        if (!blobs) {
            blobs.emplace();
            std::error_code e2;
            for (const auto& b : fs::directory_iterator(cache.repo_dir() / "blobs", e2)) {
                struct stat bs {};
                const auto etag = Etag::parse(b.path().filename().string());
                if (etag && ::lstat(b.path().c_str(), &bs) == 0 && S_ISREG(bs.st_mode))
                    blobs->emplace(std::pair{bs.st_dev, bs.st_ino}, *etag);
            }
        }
        const auto it = blobs->find({st.st_dev, st.st_ino});
        return it == blobs->end() ? std::nullopt : std::optional<Etag>(it->second);
    };
    std::size_t dropped = 0;
    for (auto it = fs::recursive_directory_iterator(staging, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink < 2) continue;
        const auto etag = blob_of(st);
        if (!etag) continue;
        auto lock = FileLock::try_lock(cache.lock_path(*etag));
        if (lock && lock->held() && ::unlink(it->path().c_str()) == 0) ++dropped;
    }
    util::remove_empty_dirs(staging);
    return dropped;
}

} // namespace llmpt::cache
