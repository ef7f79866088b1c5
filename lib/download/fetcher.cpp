// Fetcher (download/fetcher.hpp). Longer than our ~400-line norm: the per-file
// state (chunks, journal, hash watermark, restarts) is shared by the
// transfer, the hashing and the restarts, and stays private to this file;
// the decisions on an answer are pure functions (judge_headers,
// judge_attempt) with their own unit tests.
#include "download/fetcher.hpp"

#include "util/fd.hpp"
#include "util/hash.hpp"

#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <shared_mutex>
#include <thread>

namespace llmpt::fetch {

// --- the resume journal ----------------------------------------------------
//
// A small text file: a header line naming the temp file, then one fixed-width
// line per chunk with the bytes of that chunk already on disk. Each data write
// is followed by an in-place update of its chunk's line, so after a kill -9
// the journal never claims bytes that are not in the temp file.

namespace {

constexpr int kDigits = 20;

std::string journal_header(std::uint64_t size, std::uint64_t chunk, const std::string& tmp_name) {
    return fmt::format("llmpt-parts 1 {} {} {}\n", size, chunk, tmp_name);
}

std::string journal_line(std::uint64_t done) {
    return fmt::format("{:0{}}\n", done, kDigits);
}

} // namespace

std::string resume_journal(std::uint64_t size, std::uint64_t chunk_size, const std::string& tmp_name,
                           const std::vector<std::uint64_t>& done) {
    std::string out = journal_header(size, chunk_size, tmp_name);
    for (const auto d : done) out += journal_line(d);
    return out;
}

std::optional<JournalState> parse_journal(std::string_view text, std::uint64_t size) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos || nl > 512) return std::nullopt;
    char tmp[256] = {};
    unsigned long long jsize = 0, chunk = 0;
    int version = 0;
    if (std::sscanf(std::string(text.substr(0, nl)).c_str(), "llmpt-parts %d %llu %llu %255s", &version, &jsize,
                    &chunk, tmp) != 4 ||
        version != 1 || jsize != size || chunk == 0)
        return std::nullopt;
    JournalState j{chunk, tmp, {}};
    const std::uint64_t n = size == 0 ? 0 : (size - 1) / chunk + 1;
    // Every chunk has its line: a journal shorter than that is not ours
    // (and a huge count from a tiny chunk size cannot allocate past it).
    if (n > (text.size() - nl - 1) / (kDigits + 1)) return std::nullopt;
    j.done.reserve(n);
    std::size_t pos = nl + 1;
    for (std::uint64_t i = 0; i < n; ++i, pos += kDigits + 1) {
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(text.data() + pos, text.data() + pos + kDigits, v);
        if (ec != std::errc() || v > std::min(chunk, size - i * chunk)) return std::nullopt;
        j.done.push_back(v);
    }
    return j;
}

namespace {

std::optional<JournalState> read_journal(const fs::path& path, std::uint64_t size) {
    auto text = util::read_small_file(path, 1 << 20);
    if (!text) return std::nullopt;
    return parse_journal(*text, size);
}

} // namespace

// --- per-file state ----------------------------------------------------------

struct Chunk {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::atomic<std::uint64_t> done{0};
};

struct Fetcher::File {
    File(FetchTarget t, PlaceFn p) : target(std::move(t)), place(std::move(p)) {}
    FetchTarget target;
    PlaceFn place;

    util::UniqueFd fd;       // the temp file
    util::UniqueFd journal;  // the journal
    fs::path tmp;
    std::size_t journal_header_len = 0;

    // Writers hold `io` shared; a restart holds it exclusive.
    std::shared_mutex io;
    std::uint64_t generation = 0;
    std::uint64_t chunk_size = 0;
    std::unique_ptr<Chunk[]> chunks;
    std::size_t chunk_count = 0;
    bool ranges = true;

    // The hash follows the contiguous prefix of the file.
    std::mutex hash_mu;
    std::optional<util::Hasher> hasher;
    std::uint64_t hashed = 0;
    bool finished = false;
    int verify_failures = 0;
    int range_restarts = 0; // the server ignored Range: each one starts the file over

    std::uint64_t watermark() const {
        std::uint64_t w = 0;
        for (std::size_t i = 0; i < chunk_count; ++i) {
            const auto d = chunks[i].done.load();
            w += d;
            if (d < chunks[i].length) break;
        }
        return w;
    }
};

Fetcher::Fetcher(const Settings& settings, std::vector<std::string> headers,
                 const std::atomic<bool>* cancel, WarnFn warn)
    : settings_(settings), headers_(std::move(headers)), cancel_(cancel), warn_(std::move(warn)) {}

Fetcher::~Fetcher() = default;

void Fetcher::add(FetchTarget target, PlaceFn place) {
    auto f = std::make_unique<File>(std::move(target), std::move(place));
    std::lock_guard lk(mu_);
    files_.push_back(std::move(f));
}

std::vector<std::string> Fetcher::active() const {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    for (const auto& a : active_)
        if (!a.empty() && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
    return out;
}

void Fetcher::fail(Error e) {
    {
        std::lock_guard lk(mu_);
        if (!error_) error_ = std::move(e);
    }
    stop_ = true;
    cv_.notify_all();
}

void Fetcher::file_finished() {
    std::lock_guard lk(mu_);
    --files_left_;
    cv_.notify_all();
}

// Sets up chunks for a fresh (or restarted) download of the whole file.
void Fetcher::start_generation(File& f, bool ranges) {
    const auto size = f.target.size;
    f.ranges = ranges;
    f.chunk_size = ranges ? std::max<std::uint64_t>(settings_.http_chunk_size, 1 << 20)
                          : std::max<std::uint64_t>(size, 1);
    f.chunk_count = size == 0 ? 0 : (size + f.chunk_size - 1) / f.chunk_size;
    f.chunks = std::make_unique<Chunk[]>(f.chunk_count);
    for (std::size_t i = 0; i < f.chunk_count; ++i) {
        f.chunks[i].offset = i * f.chunk_size;
        f.chunks[i].length = std::min(f.chunk_size, size - i * f.chunk_size);
    }
    ++f.generation;
    f.hasher = util::hasher_for(f.target.etag.kind(), size);
    f.hashed = 0;
}

Status Fetcher::open_file(File& f) {
    const auto& t = f.target;
    auto journaled = read_journal(t.journal, t.size);
    // The journal names our own temp file, nothing else.
    if (journaled && (journaled->tmp_name.rfind(t.tmp_stem + ".", 0) != 0 ||
                      journaled->tmp_name.find('/') != std::string::npos ||
                      !journaled->tmp_name.ends_with(".incomplete")))
        journaled.reset();
    if (journaled) {
        const auto tmp = t.tmp_dir / journaled->tmp_name;
        struct stat st {};
        if (::lstat(tmp.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            static_cast<std::uint64_t>(st.st_size) == t.size) {
            auto fd = util::open_fd(tmp, O_RDWR);
            auto jfd = util::open_fd(t.journal, O_RDWR);
            if (fd && jfd) {
                f.tmp = tmp;
                f.fd = std::move(*fd);
                f.journal = std::move(*jfd);
                f.ranges = true;
                f.chunk_size = journaled->chunk_size;
                f.chunk_count = journaled->done.size();
                f.chunks = std::make_unique<Chunk[]>(f.chunk_count);
                std::uint64_t resumed = 0;
                for (std::size_t i = 0; i < f.chunk_count; ++i) {
                    f.chunks[i].offset = i * f.chunk_size;
                    f.chunks[i].length = std::min(f.chunk_size, t.size - i * f.chunk_size);
                    f.chunks[i].done = journaled->done[i];
                    resumed += journaled->done[i];
                }
                f.journal_header_len = journal_header(t.size, f.chunk_size, journaled->tmp_name).size();
                ++f.generation;
                f.hasher = util::hasher_for(t.etag.kind(), t.size);
                stats_.resumed += resumed;
                return ok();
            }
        }
    }
    // Fresh start: a new temp file of the final size and a new journal.
    std::error_code ec;
    if (journaled) fs::remove(t.tmp_dir / journaled->tmp_name, ec);
    const std::string name = t.tmp_stem + "." + util::random_hex8() + ".incomplete";
    f.tmp = t.tmp_dir / name;
    auto fd = util::open_fd(f.tmp, O_RDWR | O_CREAT | O_EXCL);
    if (!fd) return fd.error();
    f.fd = std::move(*fd);
    if (t.size > 0) {
        const int rc = ::posix_fallocate(f.fd.get(), 0, static_cast<off_t>(t.size));
        if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG) {
            ::unlink(f.tmp.c_str());
            return util::errno_error(rc, "not enough disk space for " + t.path, f.tmp.string());
        }
        if (rc != 0 && ::ftruncate(f.fd.get(), static_cast<off_t>(t.size)) != 0) {
            const int err = errno;
            ::unlink(f.tmp.c_str());
            return util::errno_error(err, "cannot size temp file", f.tmp.string());
        }
    }
    start_generation(f, true);
    const std::string journal = resume_journal(t.size, f.chunk_size, name, std::vector<std::uint64_t>(f.chunk_count));
    f.journal_header_len = journal_header(t.size, f.chunk_size, name).size();
    auto jfd = util::open_fd(t.journal, O_RDWR | O_CREAT | O_TRUNC);
    if (!jfd) {
        ::unlink(f.tmp.c_str());
        return jfd.error();
    }
    f.journal = std::move(*jfd);
    if (auto st = util::pwrite_all(f.journal.get(), journal.data(), journal.size(), 0,
                                   t.journal.string());
        !st) {
        ::unlink(f.tmp.c_str());
        ::unlink(t.journal.c_str());
        return st;
    }
    return ok();
}

void Fetcher::remove_temp(File& f) {
    if (!f.tmp.empty()) ::unlink(f.tmp.c_str());
    ::unlink(f.target.journal.c_str());
}

// --- hashing and finalization --------------------------------------------------

void Fetcher::advance_hash(File& f) {
    for (;;) {
        std::unique_lock hl(f.hash_mu, std::try_to_lock);
        if (!hl.owns_lock()) return; // the holder re-checks after it unlocks
        if (f.finished) return;
        {
            std::shared_lock io(f.io);
            const auto target = f.watermark();
            if (auto st = util::hash_range(f.fd.get(), *f.hasher, f.hashed, target, f.tmp.string(), &stop_); !st) {
                fail(std::move(st).error());
                return;
            }
        }
        if (on_hashed_ && f.hashed > 0) on_hashed_(f.target.path, f.tmp, f.hashed);
        if (f.hashed == f.target.size && !stop_) {
            finalize(f);
            return;
        }
        // Bytes may have landed while we hashed: if the prefix grew past
        // what we hashed, go round again (a writer that found the lock
        // taken left them to us).
        const auto hashed = f.hashed;
        hl.unlock();
        if (f.watermark() == hashed || stop_) return;
    }
}

void Fetcher::finalize(File& f) {
    const auto digest = f.hasher->hex_digest();
    if (digest != f.target.etag.str()) {
        if (++f.verify_failures == 1) {
            if (warn_)
                warn_(f.target.path + ": content does not match its hash " + f.target.etag.str() +
                      "; fetching it once more");
            restart(f, f.ranges);
            return;
        }
        f.finished = true;
        remove_temp(f);
        fail(Error(errc::integrity,
                   "content of " + f.target.path + " does not match its hash (got " + digest +
                       ", expected " + f.target.etag.str() + ") twice",
                   f.target.url));
        return;
    }
    f.finished = true;
    f.fd.reset();
    f.journal.reset();
    if (auto st = f.place(f.target, f.tmp); !st) {
        remove_temp(f);
        fail(st.error());
        return;
    }
    ::unlink(f.target.journal.c_str());
    file_finished();
}

void Fetcher::restart(File& f, bool ranges) {
    {
        std::unique_lock io(f.io);
        start_generation(f, ranges);
        // Drop the old bytes; keep the file's size so offsets stay valid.
        if (::ftruncate(f.fd.get(), 0) != 0 ||
            ::ftruncate(f.fd.get(), static_cast<off_t>(f.target.size)) != 0) {
            fail(util::errno_error(errno, "cannot reset temp file", f.tmp.string()));
            return;
        }
        const auto name = f.tmp.filename().string();
        const std::string journal =
            resume_journal(f.target.size, f.chunk_size, name, std::vector<std::uint64_t>(f.chunk_count));
        f.journal_header_len = journal_header(f.target.size, f.chunk_size, name).size();
        if (::ftruncate(f.journal.get(), 0) != 0 ||
            !util::pwrite_all(f.journal.get(), journal.data(), journal.size(), 0, "journal")) {
            fail(util::errno_error(errno, "cannot reset journal", f.target.journal.string()));
            return;
        }
    }
    std::lock_guard lk(mu_);
    for (std::size_t i = 0; i < f.chunk_count; ++i) queue_.push_back(Task{&f, i, f.generation});
    cv_.notify_all();
}

// --- transfers -------------------------------------------------------------------

namespace {

// "bytes a-b/total" -> a, total (total 0 if '*').
bool parse_content_range(const std::string& v, std::uint64_t& first, std::uint64_t& total) {
    unsigned long long a = 0, b = 0, t = 0;
    if (std::sscanf(v.c_str(), "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
        first = a;
        total = t;
        return true;
    }
    if (std::sscanf(v.c_str(), "bytes %llu-%llu/*", &a, &b) == 2) {
        first = a;
        total = 0;
        return true;
    }
    return false;
}

} // namespace

// What an attempt must gain to count as progress rather than a failure.
constexpr std::uint64_t kRealProgress = 1 << 20;

HeadersVerdict judge_headers(const FetchTarget& t, std::uint64_t start, bool ranged, int status,
                             const http::Headers& h) {
    using Kind = HeadersVerdict::Kind;
    if (status >= 300) return {Kind::judge_after, std::nullopt};
    if (status == 206) {
        std::uint64_t first = 0, total = 0;
        const auto it = h.find("content-range");
        if (it == h.end() || !parse_content_range(it->second, first, total) || first != start)
            return {Kind::refuse, Error(errc::failure, "bad Content-Range for " + t.path, t.url)};
        if (total != 0 && total != t.size)
            return {Kind::refuse,
                    Error(errc::integrity,
                          fmt::format("server says {} has {} bytes, the Hub says {}", t.path, total, t.size), t.url)};
        return {Kind::take_body, std::nullopt};
    }
    if (status == 200 && ranged) return {Kind::range_ignored, std::nullopt};
    if (auto it = h.find("content-length"); it != h.end() && status == 200 && it->second != std::to_string(t.size))
        return {Kind::refuse,
                Error(errc::integrity,
                      fmt::format("server says {} has {} bytes, the Hub says {}", t.path, it->second, t.size), t.url)};
    return {Kind::take_body, std::nullopt};
}

AttemptVerdict judge_attempt(const FetchTarget& t, const Result<http::Response>& r, bool chunk_complete) {
    using Kind = AttemptVerdict::Kind;
    if (!r) {
        if (r.error().code == errc::interrupted) return {Kind::refused, r.error()};
        return {Kind::retry, std::nullopt};
    }
    if (r->status >= 300) {
        if (http::retryable_status(r->status)) return {Kind::retry, std::nullopt};
        const auto code = r->status == 404                        ? errc::not_found
                          : (r->status == 401 || r->status == 403) ? errc::auth
                                                                   : errc::failure;
        return {Kind::refused, Error(code, fmt::format("HTTP {} for {}", r->status, t.path), t.url)};
    }
    return {chunk_complete ? Kind::complete : Kind::retry, std::nullopt};
}

bool real_progress(std::uint64_t gained, std::uint64_t missing) {
    return gained >= std::min<std::uint64_t>(kRealProgress, missing);
}

Fetcher::ChunkEnd Fetcher::fetch_chunk(const Task& task, std::size_t slot) {
    File& f = *task.file;
    int failures = 0;
    for (;;) {
        if (stop_ || (cancel_ && cancel_->load())) return ChunkEnd::failed;
        std::uint64_t start, end, before;
        bool ranged;
        {
            std::shared_lock io(f.io);
            if (task.generation != f.generation) return ChunkEnd::stale;
            const Chunk& chunk = f.chunks[task.chunk];
            before = chunk.done.load();
            start = chunk.offset + before;
            end = chunk.offset + chunk.length; // exclusive
            if (start == end) return ChunkEnd::done;
            ranged = !(start == 0 && end == f.target.size);
        }

        HeadersVerdict heard;
        std::optional<Error> fatal;
        http::Request req;
        req.url = f.target.url;
        req.headers = headers_;
        req.connect_timeout = settings_.connect_timeout;
        req.stall_timeout = settings_.stall_timeout;
        req.cancel = cancel_;
        if (ranged) req.range = http::ByteRange{start, end - 1};
        req.on_headers = [&](int status, const http::Headers& h) {
            heard = judge_headers(f.target, start, ranged, status, h);
            return heard.kind == HeadersVerdict::Kind::take_body;
        };
        req.on_body = [&](const char* data, std::size_t n) { return write_body(task, data, n, fatal); };
        {
            std::lock_guard lk(mu_);
            active_[slot] = f.target.path;
        }
        auto r = http::perform(req);
        {
            std::lock_guard lk(mu_);
            active_[slot].clear();
        }
        // A restart during the transfer (the file failed its hash, say)
        // replaced the chunks: this task is over.
        std::uint64_t now_done = 0;
        {
            std::shared_lock io(f.io);
            if (task.generation != f.generation) return ChunkEnd::stale;
            now_done = f.chunks[task.chunk].done.load();
        }
        if (heard.kind == HeadersVerdict::Kind::refuse) fatal = std::move(heard.error);
        if (fatal) return refused(task, std::move(*fatal));
        if (heard.kind == HeadersVerdict::Kind::range_ignored) return range_ignored(task);

        auto verdict = judge_attempt(f.target, r, start + (now_done - before) == end);
        if (verdict.kind == AttemptVerdict::Kind::complete) {
            advance_hash(f);
            return ChunkEnd::done;
        }
        if (verdict.kind == AttemptVerdict::Kind::refused) {
            fail(std::move(*verdict.error));
            return ChunkEnd::failed;
        }
        if (real_progress(now_done - before, end - start)) failures = 0;
        if (++failures > settings_.max_retries) {
            fail(r ? Error(errc::network,
                           fmt::format("giving up on {} after {} retries (HTTP {}, short or failed transfer)",
                                       f.target.path, settings_.max_retries, r->status),
                           f.target.url)
                   : Error(errc::network, "giving up on " + f.target.path + ": " + r.error().message, f.target.url));
            return ChunkEnd::failed;
        }
        if (!wait_before_retry(task, failures, r)) return ChunkEnd::failed;
    }
}

bool Fetcher::write_body(const Task& task, const char* data, std::size_t n, std::optional<Error>& fatal) {
    File& f = *task.file;
    {
        std::shared_lock io(f.io);
        if (task.generation != f.generation || stop_) return false;
        Chunk& chunk = f.chunks[task.chunk];
        const auto done = chunk.done.load();
        if (done + n > chunk.length) {
            fatal = Error(errc::integrity,
                          fmt::format("server sent more bytes than the {} of {}", f.target.size, f.target.path),
                          f.target.url);
            return false;
        }
        if (auto st = util::pwrite_all(f.fd.get(), data, n, chunk.offset + done, f.tmp.string()); !st) {
            fatal = st.error();
            return false;
        }
        chunk.done = done + n;
        const auto line = journal_line(done + n);
        (void)util::pwrite_all(f.journal.get(), line.data(), line.size(),
                               f.journal_header_len + task.chunk * (kDigits + 1), "journal");
    }
    stats_.fetched += n;
    advance_hash(f);
    return true;
}

Fetcher::ChunkEnd Fetcher::refused(const Task& task, Error e) {
    File& f = *task.file;
    if (e.code == errc::integrity) {
        // Treated like a hash mismatch: one more try from scratch.
        std::lock_guard hl(f.hash_mu);
        if (task.generation != f.generation) return ChunkEnd::stale;
        if (++f.verify_failures == 1) {
            if (warn_) warn_(e.message + "; fetching it once more");
            restart(f, f.ranges);
            return ChunkEnd::restart;
        }
        f.finished = true;
        remove_temp(f);
    }
    fail(std::move(e));
    return ChunkEnd::failed;
}

Fetcher::ChunkEnd Fetcher::range_ignored(const Task& task) {
    File& f = *task.file;
    std::lock_guard hl(f.hash_mu);
    if (task.generation != f.generation) return ChunkEnd::stale;
    // A restart is a failure too: a server that ignores Range and cuts
    // bodies short would otherwise restart the file forever.
    if (++f.range_restarts > settings_.max_retries) {
        fail(Error(errc::network,
                   fmt::format("giving up on {}: the server ignores Range and cut the body short {} times",
                               f.target.path, f.range_restarts),
                   f.target.url));
        return ChunkEnd::failed;
    }
    if (warn_) warn_("server ignores Range for " + f.target.path + "; fetching it whole");
    restart(f, false);
    return ChunkEnd::restart;
}

bool Fetcher::wait_before_retry(const Task& task, int failures, const Result<http::Response>& r) {
    const auto policy = http::RetryPolicy::from(settings_, warn_);
    if (auto st = http::wait_to_retry(policy, failures, r ? r->status : 0, r ? r->headers : http::Headers{},
                                      task.file->target.url, cancel_);
        !st) {
        fail(std::move(st).error());
        return false;
    }
    return true;
}

bool Fetcher::next_task(Task& out) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return stop_ || !queue_.empty() || files_left_ == 0; });
    if (stop_ || queue_.empty()) return false;
    out = queue_.front();
    queue_.pop_front();
    return true;
}

void Fetcher::work(std::size_t slot) {
    Task t;
    while (next_task(t)) (void)fetch_chunk(t, slot);
    cv_.notify_all();
}

Status Fetcher::run(const std::function<void()>& tick) {
    // Open every file first: resume state, preallocation (disk full shows
    // up here, before any byte moves).
    for (auto& f : files_) {
        if (auto st = open_file(*f); !st) {
            // Out of space: leave the cache as it was. Otherwise keep what
            // is on disk for the next attempt.
            if (st.error().code == errc::disk)
                for (auto& g : files_)
                    if (g->fd) remove_temp(*g);
            return st;
        }
    }
    {
        std::lock_guard lk(mu_);
        files_left_ = files_.size();
        for (auto& f : files_)
            for (std::size_t i = 0; i < f->chunk_count; ++i)
                if (f->chunks[i].done.load() < f->chunks[i].length)
                    queue_.push_back(Task{f.get(), i, f->generation});
    }
    // Files complete on disk (killed before the rename, or empty) finish now.
    for (auto& f : files_) advance_hash(*f);

    const std::size_t n = std::max(1, settings_.http_connections);
    active_.assign(n, {});
    std::vector<std::thread> workers;
    for (std::size_t i = 0; i < n; ++i) workers.emplace_back([this, i] { work(i); });
    {
        std::unique_lock lk(mu_);
        while (!stop_ && files_left_ > 0) {
            if (cancel_ && cancel_->load()) break;
            cv_.wait_for(lk, std::chrono::milliseconds(200));
            lk.unlock();
            if (tick) tick();
            lk.lock();
        }
        if (cancel_ && cancel_->load() && !error_) error_ = Error(errc::interrupted, "interrupted");
        stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers) w.join();
    if (tick) tick();

    std::lock_guard lk(mu_);
    if (!error_) return ok();
    if (error_->code == errc::disk || error_->code == errc::integrity)
        for (auto& f : files_)
            if (!f->finished) remove_temp(*f);
    return *error_;
}

} // namespace llmpt::fetch
