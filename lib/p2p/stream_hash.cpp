#include "p2p/stream_hash.hpp"

#include <algorithm>
#include <cerrno>

namespace llmpt::p2p {

StreamHash::StreamHash(std::filesystem::path file, util::Hasher hasher, std::uint64_t size)
    : file_(std::move(file)), hasher_(std::move(hasher)), size_(size) {}

void StreamHash::lose() {
    lost_ = true;
    waiting_.clear();
    done_.notify_all();
}

void StreamHash::absorb(std::uint64_t offset, const char* data, std::size_t len) {
    std::unique_lock lk(mu_);
    if (lost_) return;
    // Bytes already taken, or waiting, written again: what is on disk may no
    // longer be what was (or will be) hashed.
    if (offset < claimed_ || waiting_.count(offset)) return lose();
    if (busy_ || offset != claimed_) {
        // Early, or another thread is hashing: only the mark (the bytes are
        // in the file now).
        waiting_.emplace(offset, len);
        return;
    }
    // In order and nobody hashing: hash straight from the caller's buffer.
    busy_ = true;
    claimed_ += len;
    lk.unlock();
    hasher_.update(data, len);
    lk.lock();
    hashed_ += len;
    drain(lk);
}

// Hashes the waiting blocks that continue the stream; the caller holds `lk`
// and has set busy_.
void StreamHash::drain(std::unique_lock<std::mutex>& lk) {
    while (!lost_) {
        auto it = waiting_.find(claimed_);
        if (it == waiting_.end()) break;
        const std::size_t len = it->second;
        waiting_.erase(it);
        const auto at = claimed_;
        claimed_ += len;
        lk.unlock();
        const bool read = hash_back(at, len);
        lk.lock();
        if (!read) {
            lose();
            break;
        }
        hashed_ += len;
    }
    if (hashed_ == size_) back_ = {}; // done: the buffer goes
    busy_ = false;
    done_.notify_all();
}

// Hashes a waiting block's bytes, read from the file (the page cache) a
// buffer at a time.
bool StreamHash::hash_back(std::uint64_t at, std::size_t len) {
    if (!fd_) {
        auto fd = util::open_fd(file_, O_RDONLY);
        if (!fd) return false;
        fd_ = std::move(*fd);
    }
    constexpr std::size_t kBuffer = 64 * 1024;
    if (back_.empty()) back_.resize(kBuffer);
    while (len > 0) {
        const ssize_t n = ::pread(fd_.get(), back_.data(), std::min(len, kBuffer), static_cast<off_t>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        hasher_.update(back_.data(), static_cast<std::size_t>(n));
        at += static_cast<std::uint64_t>(n);
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

void StreamHash::rewrite(std::uint64_t from, std::uint64_t to) {
    std::lock_guard lk(mu_);
    if (lost_) return;
    if (from < claimed_) return lose();
    waiting_.erase(waiting_.lower_bound(from), waiting_.lower_bound(to));
}

void StreamHash::abandon() {
    std::lock_guard lk(mu_);
    lose();
}

std::optional<std::string> StreamHash::digest(std::chrono::milliseconds wait) {
    std::unique_lock lk(mu_);
    if (!done_.wait_for(lk, wait, [&] { return lost_ || (!busy_ && hashed_ == size_); }) || lost_) return std::nullopt;
    lost_ = true; // the hasher is spent
    return hasher_.hex_digest();
}

void StreamRegistry::put(const std::string& key20, Streams streams) {
    std::lock_guard lk(mu_);
    pending_[key20] = std::move(streams);
}

StreamRegistry::Streams StreamRegistry::take(const std::string& key20) {
    std::lock_guard lk(mu_);
    auto it = pending_.find(key20);
    if (it == pending_.end()) return {};
    auto out = std::move(it->second);
    pending_.erase(it);
    return out;
}

void StreamRegistry::drop(const std::string& key20) {
    std::lock_guard lk(mu_);
    pending_.erase(key20);
}

} // namespace llmpt::p2p
