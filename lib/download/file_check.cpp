#include "download/file_check.hpp"

#include "util/fd.hpp"

#include <algorithm>

namespace llmpt::fetch {

namespace fs = std::filesystem;

FileCheck::FileCheck(fs::path staged, Etag etag, std::uint64_t size)
    : staged_(std::move(staged)), etag_(std::move(etag)), size_(size) {}

void FileCheck::start_stream() {
    if (size_ == 0 || stream_) return;
    stream_ = std::make_shared<p2p::StreamHash>(staged_, util::hasher_for(etag_.kind(), size_), size_);
}

void FileCheck::stop_stream() {
    if (!stream_) return;
    stream_->abandon();
    stream_.reset();
}

void FileCheck::resume(const util::Hasher& state, std::uint64_t bytes) {
    if (stream_ || hashed_ > 0 || bytes > size_) return;
    hasher_ = state;
    hashed_ = bytes;
}

Result<std::optional<std::string>> FileCheck::advance(const std::vector<bool>& have, std::uint64_t pl) {
    const bool complete = size_ == 0 || (pl > 0 && std::all_of(have.begin(), have.end(), [](bool b) { return b; }) &&
                                         have.size() == (size_ + pl - 1) / pl);
    if (stream_ && complete) {
        // Every piece passed its check, so every byte was written: the
        // stream is done in moments, or was lost (then read back below).
        auto digest = stream_->digest(std::chrono::seconds(5));
        stop_stream();
        if (digest) return std::optional<std::string>(std::move(*digest));
    }
    if (stream_) return std::optional<std::string>();
    if (!hasher_) hasher_ = util::hasher_for(etag_.kind(), size_);
    if (size_ > 0) {
        std::uint64_t contiguous = hashed_ / pl * pl;
        while (contiguous < size_ && contiguous / pl < have.size() && have[contiguous / pl])
            contiguous = std::min(size_, contiguous + pl);
        if (contiguous > hashed_) {
            auto fd = util::open_fd(staged_, O_RDONLY);
            if (!fd) return fd.error();
            if (auto st = util::hash_range(fd->get(), *hasher_, hashed_, contiguous, staged_.string()); !st)
                return std::move(st).error();
        }
    }
    if (!complete || hashed_ != size_) return std::optional<std::string>();
    return std::optional<std::string>(hasher_->hex_digest());
}

} // namespace llmpt::fetch
