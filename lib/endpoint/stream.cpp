#include "endpoint/stream.hpp"

#include "util/fd.hpp"
#include "util/hash.hpp"

#include <algorithm>
#include <optional>

namespace llmpt::endpoint {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kChunk = 1 << 20; // bytes a stream reads and sends at a time

// The body of one GET of a file that is not in the cache yet (see the
// header comment): bytes [first, last] of the file, as they arrive.
class FileStream final : public server::BodyStream, public Parked, public std::enable_shared_from_this<FileStream> {
public:
    FileStream(StreamSpec spec, std::shared_ptr<Job> job, std::shared_ptr<Pump> pump,
               std::function<void(const Etag&)> on_mismatch)
        : s_(std::move(spec)), job_(std::move(job)), pump_(std::move(pump)), on_mismatch_(std::move(on_mismatch)),
          pos_(s_.first) {}

    void next(Deliver deliver) override { serve(std::move(deliver)); }
    void cancel() override {
        std::lock_guard lk(mu_);
        cancelled_ = true;
        parked_ = nullptr;
        job_->waiting_at(s_.path, std::nullopt);
    }
    // Parked: try again. Returns false once the stream is over (unpark it).
    bool poke() override {
        Deliver d;
        {
            std::lock_guard lk(mu_);
            if (cancelled_ || over_) return false;
            if (!parked_) return true;
            d = std::move(parked_);
            parked_ = nullptr;
        }
        serve(std::move(d));
        std::lock_guard lk(mu_);
        return !cancelled_ && !over_;
    }

private:
    // Delivers the next bytes, the end, or parks `d` until there are some.
    void serve(Deliver d) {
        std::string out;
        {
            std::lock_guard lk(mu_);
            if (cancelled_) return;
            if (pos_ > s_.last || over_) {
                over_ = true;
                out.clear();
            } else if (!step(out)) {
                parked_ = std::move(d);
                job_->waiting_at(s_.path, pos_);
                if (!parked_once_) pump_->park(shared_from_this());
                parked_once_ = true;
                return;
            }
            job_->waiting_at(s_.path, std::nullopt);
        }
        d(std::move(out)); // empty: the end, or a cut when bytes are missing
    }

    // With mu_ held. true: `out` is what to deliver (empty ends the body).
    bool step(std::string& out) {
        auto src = job_->source(s_.path);
        if (!src.placed) {
            if (const auto n = util::regular_file_size(s_.blob); n && *n == s_.size) src = {s_.blob, s_.size, true, src.alive};
        }
        if (!src.placed && !src.alive) { // no task fetches it any more: cut
            over_ = true;
            return true;
        }
        if (src.file.empty()) return false;
        if (!hasher_ && !verified_) {
            // Starting on the verified file: nothing to check. Else every
            // byte sent is hashed, from the file's first byte on.
            if (src.placed) verified_ = true;
            else hasher_ = util::hasher_for(s_.etag.kind(), s_.size);
        }
        if (src.file != open_path_) {
            auto fd = util::open_fd(src.file, O_RDONLY);
            if (!fd) return false; // moved under us (placed): the next report says where
            fd_ = std::move(*fd);
            open_path_ = src.file;
        }
        const auto have = src.placed ? s_.size : std::min(src.prefix, s_.size);
        // Catch up the hash on bytes before the range (a resumed download).
        while (hasher_ && hashed_ < s_.first) {
            const auto want = std::min<std::uint64_t>({kChunk, s_.first - hashed_, have > hashed_ ? have - hashed_ : 0});
            if (want == 0) return false;
            std::string buf;
            if (!read(hashed_, want, buf)) return false;
            hasher_->update(buf.data(), buf.size());
            hashed_ += buf.size();
        }
        // The file's last byte waits until it is verified and our digest agrees.
        const auto sendable = src.placed ? s_.size : std::min(have, s_.size - 1);
        const auto end = std::min(sendable, s_.last + 1);
        if (pos_ >= end) return false;
        if (!read(pos_, std::min<std::uint64_t>(kChunk, end - pos_), out)) return false;
        if (hasher_ && hashed_ == pos_) {
            hasher_->update(out.data(), out.size());
            hashed_ += out.size();
            if (hashed_ == s_.size && hasher_->hex_digest() != s_.etag.str()) {
                // What we sent is not the file that passed the Hub's hash
                // (its bytes changed under us): cut before the last byte.
                on_mismatch_(s_.etag);
                out.clear();
                over_ = true;
                return true;
            }
        }
        pos_ += out.size();
        return true;
    }

    bool read(std::uint64_t at, std::uint64_t n, std::string& out) {
        out.resize(n);
        std::size_t got = 0;
        while (got < n) {
            const ssize_t r = ::pread(fd_.get(), out.data() + got, n - got, static_cast<off_t>(at + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                out.clear();
                return false;
            }
            got += static_cast<std::size_t>(r);
        }
        return true;
    }

    const StreamSpec s_;
    const std::shared_ptr<Job> job_;
    const std::shared_ptr<Pump> pump_;
    const std::function<void(const Etag&)> on_mismatch_;
    std::mutex mu_;
    Deliver parked_;
    bool cancelled_ = false, over_ = false, parked_once_ = false, verified_ = false;
    std::uint64_t pos_;         // next byte to send
    std::uint64_t hashed_ = 0;  // bytes [0, hashed_) went into hasher_
    std::optional<util::Hasher> hasher_;
    util::UniqueFd fd_;
    fs::path open_path_;
};

} // namespace

Pump::Pump() : thread_([this] { loop(); }) {}

Pump::~Pump() { stop(); }

void Pump::stop() {
    {
        std::lock_guard lk(mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Pump::park(const std::shared_ptr<Parked>& p) {
    std::lock_guard lk(mu_);
    parked_.push_back(p);
}

void Pump::wake() {
    {
        std::lock_guard lk(mu_);
        woken_ = true;
    }
    cv_.notify_one();
}

void Pump::loop() {
    std::unique_lock lk(mu_);
    while (!stopping_) {
        cv_.wait_for(lk, kInterval, [&] { return stopping_ || woken_; });
        woken_ = false;
        auto parked = parked_;
        lk.unlock();
        std::vector<bool> keep(parked.size(), false);
        for (std::size_t i = 0; i < parked.size(); ++i)
            if (auto s = parked[i].lock()) keep[i] = s->poke();
        lk.lock();
        // Streams parked meanwhile are after the ones polled.
        std::vector<std::weak_ptr<Parked>> still;
        for (std::size_t i = 0; i < parked.size(); ++i)
            if (keep[i]) still.push_back(parked[i]);
        for (std::size_t i = parked.size(); i < parked_.size(); ++i) still.push_back(parked_[i]);
        parked_.swap(still);
    }
}

std::shared_ptr<server::BodyStream> file_stream(StreamSpec spec, std::shared_ptr<Job> job, std::shared_ptr<Pump> pump,
                                                std::function<void(const Etag&)> on_mismatch) {
    return std::make_shared<FileStream>(std::move(spec), std::move(job), std::move(pump), std::move(on_mismatch));
}

} // namespace llmpt::endpoint
