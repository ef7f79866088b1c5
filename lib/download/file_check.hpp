// The Hub's hash of a file that peers deliver (docs/design.md, "A
// download"): the trust root for P2P bytes. With llmpt's disk back end the
// hash is taken as the checked pieces are written (p2p::StreamHash); else,
// or once that stream is lost, the staging file is read back along its
// contiguous run of checked pieces as they come in.
#pragma once

#include "p2p/stream_hash.hpp"
#include "util/hash.hpp"

#include <llmpt/repo.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llmpt::fetch {

class FileCheck {
public:
    FileCheck(std::filesystem::path staged, Etag etag, std::uint64_t size);

    // The stream the disk back end feeds for this file (nullptr: none).
    std::shared_ptr<p2p::StreamHash> stream() const { return stream_; }
    void start_stream();
    // Bytes already in staging will not be written again: read them back.
    void stop_stream();
    // In read-back mode, before anything is hashed: the first `bytes` of
    // staging are known to hash to `state` (this process hashed them as it
    // wrote them, and nobody writes them again); the read-back starts after.
    void resume(const util::Hasher& state, std::uint64_t bytes);

    // `have`: per piece of the file, whether it passed its check. Hashes
    // what became contiguous (read-back mode). Once every piece is there:
    // the hex digest; nullopt while incomplete.
    Result<std::optional<std::string>> advance(const std::vector<bool>& have, std::uint64_t piece_length);

    const std::filesystem::path& staged() const { return staged_; }

private:
    std::filesystem::path staged_;
    Etag etag_;
    std::uint64_t size_;
    std::shared_ptr<p2p::StreamHash> stream_;
    std::optional<util::Hasher> hasher_;
    std::uint64_t hashed_ = 0;
};

} // namespace llmpt::fetch
