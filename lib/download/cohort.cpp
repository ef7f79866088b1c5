#include "download/cohort.hpp"

#include "http/client.hpp"
#include "http/retry.hpp"
#include "torrent/inspect.hpp"
#include "torrent/parts.hpp"
#include "tracker/cohort_protocol.hpp"
#include "tracker/protocol.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"
#include "util/url.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace llmpt::fetch {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
namespace co = tracker::cohort;

namespace {

// One call to the tracker's cohort API. nullopt with `status` 0: the tracker
// could not be reached; otherwise `status` is the HTTP status.
struct Reply {
    int status = 0;
    std::optional<co::Answer> answer;
    std::string error;
};

class CohortApi {
public:
    explicit CohortApi(const Settings& s) : base_(util::trim_trailing_slashes(s.tracker)), settings_(s) {}

    Reply post(const std::string& route, std::string body) const {
        http::Request req;
        req.method = "POST";
        req.url = base_ + "/api/v1/cohort/" + route;
        req.body = std::move(body);
        req.headers = {"Content-Type: application/json"};
        if (!settings_.publish_token.empty()) req.headers.push_back("Authorization: Bearer " + settings_.publish_token);
        req.connect_timeout = settings_.tracker_connect_timeout;
        req.total_timeout = settings_.tracker_timeout;
        req.max_body = 1 << 20;
        Reply out;
        auto r = http::perform(req);
        if (!r) {
            out.error = "tracker unreachable: " + r.error().message;
            return out;
        }
        out.status = r->status;
        if (r->status == 200) out.answer = co::parse_answer(r->body);
        if (!out.answer) out.error = tracker::protocol::error_text(r->status, r->body);
        return out;
    }

private:
    std::string base_;
    const Settings& settings_;
};

// The cohort run: worker threads lease, fetch, hash and report chunks; a
// heartbeat keeps their leases while a chunk takes long; the calling thread
// waits for the end.
class Member {
public:
    Member(const CohortJob& job, const CohortCallbacks& cb) : job_(job), cb_(cb), api_(job.settings) {}

    Result<CohortOutcome> run();

private:
    void warn(const std::string& m) const {
        if (cb_.warn) cb_.warn(m);
    }
    bool cancelled() const { return job_.cancel && job_.cancel->load(); }
    void end(CohortOutcome::End e, const std::string& why = {});
    bool ended() const {
        std::lock_guard lk(mu_);
        return ended_;
    }
    void seen(const co::Answer& a);
    void work();
    void heartbeat();
    // Fetches and hashes one chunk; the hashes, or nullopt after a warning.
    std::optional<std::vector<torrent::Sha256Digest>> fetch(const co::Chunk& c);
    Status download_range(const co::Chunk& c, const fs::path& staged, std::uint64_t file_size);
    void extend_prefix(const co::Chunk& c, const fs::path& staged);
    const hub::RemoteFile* file(const std::string& path) const;

    // The Hub's hash of a file this node fetches chunks of, over the run of
    // them from the file's start (chunks land in any order; the hash takes
    // each once the run reaches it, from the page cache).
    struct Prefix {
        std::mutex mu;
        std::optional<util::Hasher> hasher; // reset on a read error: no prefix then
        std::uint64_t hashed = 0;
        std::map<std::uint64_t, std::uint64_t> waiting; // fetched chunks past the run: offset -> end
    };

    const CohortJob& job_;
    const CohortCallbacks& cb_;
    CohortApi api_;
    std::string cohort_, member_;
    std::chrono::seconds lease_{15};

    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool ended_ = false;
    CohortOutcome out_;
    std::uint64_t last_remaining_ = ~0ull;
    Clock::time_point last_change_ = Clock::now();
    std::atomic<std::uint64_t> fetched_{0};
    std::map<std::string, Prefix> prefixes_; // made before the workers start
};

const hub::RemoteFile* Member::file(const std::string& path) const {
    for (const auto& f : job_.files)
        if (f.path == path) return &f;
    return nullptr;
}

void Member::end(CohortOutcome::End e, const std::string& why) {
    {
        std::lock_guard lk(mu_);
        if (ended_) return;
        ended_ = true;
        out_.end = e;
    }
    if (!why.empty()) warn(why);
    cv_.notify_all();
}

// Every answer says how far the cohort is; one that has not moved for long
// means members hold chunks they do not fetch.
void Member::seen(const co::Answer& a) {
    {
        std::lock_guard lk(mu_);
        out_.members = a.members;
        if (a.remaining != last_remaining_) {
            last_remaining_ = a.remaining;
            last_change_ = Clock::now();
        }
    }
    if (a.state == co::State::published) end(CohortOutcome::End::published);
    else if (a.state == co::State::failed)
        end(CohortOutcome::End::given_up, "the cohort failed (" + a.error + "); HTTP for the rest");
}

Status Member::download_range(const co::Chunk& c, const fs::path& staged, std::uint64_t file_size) {
    std::error_code ec;
    fs::create_directories(staged.parent_path(), ec);
    auto fd = util::open_fd(staged, O_RDWR | O_CREAT);
    if (!fd) return fd.error();
    if (auto size = util::file_size(fd->get()); size && *size < file_size && ::ftruncate(fd->get(), static_cast<off_t>(file_size)) != 0)
        return util::errno_error(errno, "cannot size", staged.string());
    std::uint64_t done = 0;
    const auto* f = file(c.path);
    const auto url = job_.hub.file_url(job_.repo, job_.commit, c.path);
    const auto policy = http::RetryPolicy::from(job_.settings, [this](const std::string& m) { warn(m); });
    for (int attempt = 0;; ++attempt) {
        if (cancelled()) return Error(errc::interrupted, "interrupted");
        http::Request req;
        req.url = url;
        req.headers = job_.hub.auth_headers();
        req.range = http::ByteRange{c.offset + done, c.offset + c.length - 1};
        req.connect_timeout = job_.settings.connect_timeout;
        req.stall_timeout = job_.settings.stall_timeout;
        req.cancel = job_.cancel;
        std::optional<Error> write_error;
        int status = 0;
        http::Headers headers;
        req.on_headers = [&](int s, const http::Headers& h) {
            status = s;
            headers = h;
            return s == 206 || (s == 200 && c.offset + done == 0 && c.length == f->size);
        };
        req.on_body = [&](const char* data, std::size_t n) {
            // More than the range asked for: stop (the rest is not ours).
            // Exactly the range: let the transfer end by itself, so that its
            // connection is kept for the next chunk.
            const bool beyond = n > c.length - done;
            n = static_cast<std::size_t>(std::min<std::uint64_t>(n, c.length - done));
            if (auto st = util::pwrite_all(fd->get(), data, n, c.offset + done, staged.string()); !st) {
                write_error = st.error();
                return false;
            }
            done += n;
            fetched_ += n;
            return !beyond;
        };
        auto r = http::perform(req);
        if (write_error) return *write_error;
        if (done == c.length) return ok();
        if (r && r->status && !http::retryable_status(status) && status != 206 && status != 200)
            return Error(errc::network, "the Hub answered " + std::to_string(status), url);
        if (attempt >= policy.max_retries)
            return Error(errc::network, r ? "the Hub cut the transfer short" : r.error().message, url);
        if (auto st = http::wait_to_retry(policy, attempt + 1, status, headers, url, job_.cancel); !st)
            return st.error();
    }
}

void Member::extend_prefix(const co::Chunk& c, const fs::path& staged) {
    const auto it = prefixes_.find(c.path);
    if (it == prefixes_.end()) return;
    auto& p = it->second;
    std::lock_guard lk(p.mu);
    if (!p.hasher || c.offset < p.hashed) return; // a chunk fetched again: its bytes are hashed
    p.waiting[c.offset] = c.offset + c.length;
    if (p.waiting.begin()->first != p.hashed) return;
    auto fd = util::open_fd(staged, O_RDONLY);
    if (!fd) {
        p.hasher.reset();
        return;
    }
    while (!p.waiting.empty() && p.waiting.begin()->first == p.hashed) {
        const auto end = p.waiting.begin()->second;
        p.waiting.erase(p.waiting.begin());
        if (!util::hash_range(fd->get(), *p.hasher, p.hashed, end, std::string())) {
            p.hasher.reset(); // the file check reads it back instead
            return;
        }
    }
}

std::optional<std::vector<torrent::Sha256Digest>> Member::fetch(const co::Chunk& c) {
    const auto* f = file(c.path);
    if (!f || c.length == 0 || c.offset + c.length > f->size) {
        warn("the cohort leased a chunk that is not in the snapshot (" + c.path + "); leaving the cohort");
        return std::nullopt;
    }
    fs::path source;
    if (auto it = job_.cached.find(c.path); it != job_.cached.end()) {
        source = it->second; // hashed from the blob we already have
    } else {
        source = job_.dest.staging_root() / job_.commit.str() / c.path;
        if (auto st = download_range(c, source, f->size); !st) {
            if (st.error().code != errc::interrupted) warn("cohort: " + st.error().what());
            return std::nullopt;
        }
        extend_prefix(c, source);
    }
    torrent::PieceHashing how;
    how.piece_length = out_.piece_length;
    how.first = c.first_piece;
    how.count = c.pieces;
    how.cancel = job_.cancel;
    auto hashes = torrent::hash_pieces(source, f->size, how);
    if (!hashes) {
        warn("cohort: " + hashes.error().what());
        return std::nullopt;
    }
    if (job_.cached.count(c.path) == 0) {
        std::lock_guard lk(mu_);
        out_.share_bytes += c.length;
        auto& hashed = out_.staged.pieces[c.path];
        for (std::uint64_t i = 0; i < c.pieces && i < hashes->size(); ++i) hashed[c.first_piece + i] = (*hashes)[i];
    }
    return std::move(*hashes);
}

void Member::work() {
    int failures = 0;
    while (!ended() && !cancelled()) {
        const auto reply = api_.post("lease", co::lease_body({cohort_, member_, true}));
        if (!reply.answer) {
            // A tracker that restarted forgot the cohort (404); one that is
            // briefly unreachable gets a few more tries.
            if (reply.status == 404 || ++failures > 5) {
                end(CohortOutcome::End::given_up, "cohort: " + reply.error + "; HTTP for the rest");
                return;
            }
            http::sleep_for(std::chrono::milliseconds(500 * failures), job_.cancel);
            continue;
        }
        failures = 0;
        seen(*reply.answer);
        if (ended()) return;
        if (!reply.answer->chunk) {
            // Nothing free: wait for the others to report (or to lapse).
            std::unique_lock lk(mu_);
            if (Clock::now() - last_change_ > std::max<std::chrono::seconds>(3 * lease_, std::chrono::seconds(30))) {
                lk.unlock();
                end(CohortOutcome::End::given_up, "the cohort made no progress for a while; HTTP for the rest");
                return;
            }
            cv_.wait_for(lk, std::chrono::milliseconds(250), [&] { return ended_; });
            continue;
        }
        const auto chunk = *reply.answer->chunk;
        auto hashes = fetch(chunk);
        if (!hashes) {
            end(CohortOutcome::End::given_up);
            return;
        }
        co::ReportRequest rep{cohort_, member_, chunk.path, chunk.first_piece, std::move(*hashes)};
        const auto reported = api_.post("report", co::report_body(rep));
        if (!reported.answer) {
            end(CohortOutcome::End::given_up, "cohort: the report was refused (" + reported.error + "); HTTP for the rest");
            return;
        }
        {
            std::lock_guard lk(mu_);
            ++out_.chunks;
        }
        seen(*reported.answer);
    }
}

void Member::heartbeat() {
    const auto every = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(500),
                                                           std::chrono::duration_cast<std::chrono::milliseconds>(lease_) / 3);
    std::unique_lock lk(mu_);
    while (!ended_ && !cancelled()) {
        if (cv_.wait_for(lk, every, [&] { return ended_; })) return;
        lk.unlock();
        const auto reply = api_.post("lease", co::lease_body({cohort_, member_, false}));
        if (reply.answer) seen(*reply.answer);
        lk.lock();
    }
}

Result<CohortOutcome> Member::run() {
    co::JoinRequest join;
    join.repo_type = std::string(to_string(job_.repo.type));
    join.repo_id = job_.repo.id.str();
    join.revision = job_.commit.str();
    join.tracker = util::trim_trailing_slashes(job_.settings.tracker);
    for (const auto& f : job_.files) join.files.push_back({f.path, f.size});
    const auto joined = api_.post("join", co::join_body(join));
    if (!joined.answer) {
        // 404/405: a tracker without the protocol. Anything else is worth a word.
        if (joined.status != 404 && joined.status != 405)
            warn("cohort: " + joined.error + "; downloading over HTTP");
        return out_;
    }
    const auto& a = *joined.answer;
    if (a.state == co::State::published) {
        out_.end = CohortOutcome::End::published;
        return out_;
    }
    std::uint64_t total = 0;
    for (const auto& f : job_.files) total += f.size;
    if (a.state != co::State::fetching || a.cohort.empty() || a.member.empty() ||
        a.piece_length != torrent::piece_length_for(total)) {
        warn("cohort: the tracker's answer to the join makes no sense; downloading over HTTP");
        return out_;
    }
    cohort_ = a.cohort;
    member_ = a.member;
    out_.piece_length = a.piece_length;
    if (a.lease_seconds > 0) lease_ = std::chrono::seconds(a.lease_seconds);
    seen(a);

    for (const auto& f : job_.files)
        if (!job_.cached.count(f.path)) prefixes_[f.path].hasher = util::hasher_for(f.etag.kind(), f.size);

    std::vector<std::thread> threads;
    for (int i = 0; i < std::max(1, job_.workers); ++i) threads.emplace_back([this] { work(); });
    threads.emplace_back([this] { heartbeat(); });
    {
        std::unique_lock lk(mu_);
        while (!ended_) {
            if (cancelled()) {
                lk.unlock();
                end(CohortOutcome::End::given_up);
                lk.lock();
                break;
            }
            cv_.wait_for(lk, std::chrono::milliseconds(200));
            if (cb_.progress) {
                lk.unlock();
                cb_.progress(fetched_.load());
                lk.lock();
            }
        }
    }
    for (auto& t : threads) t.join();
    if (cancelled()) return Error(errc::interrupted, "interrupted");
    for (auto& [path, p] : prefixes_)
        if (p.hasher && p.hashed > 0) out_.staged.prefixes.emplace(path, PrefixHash{std::move(*p.hasher), p.hashed});
    return out_;
}

} // namespace

Result<CohortOutcome> run_cohort(const CohortJob& job, const CohortCallbacks& cb) {
    Member m(job, cb);
    return m.run();
}

} // namespace llmpt::fetch
