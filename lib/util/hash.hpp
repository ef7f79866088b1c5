// util/: small building blocks with no knowledge of HuggingFace: hashing,
// file descriptors, URL encoding.
//
// Incremental SHA-256 / SHA-1 on OpenSSL's EVP API, and the git blob hash
// (sha1("blob {len}\0" + data)) that names non-LFS files.
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace llmpt::util {

class Hasher {
public:
    enum class Algo { sha256, sha1 };
    explicit Hasher(Algo algo);
    ~Hasher();
    Hasher(Hasher&&) noexcept;
    Hasher& operator=(Hasher&&) noexcept;
    // A copy is in the same state: it goes on from the bytes this one saw.
    Hasher(const Hasher& other);
    Hasher& operator=(const Hasher& other);

    void update(const void* data, std::size_t n);
    void update(std::string_view s) { update(s.data(), s.size()); }
    // Lower-case hex digest. The hasher is spent afterwards.
    std::string hex_digest();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The hasher that checks a blob named by `etag`: sha256 over the bytes, or a
// sha1 primed with the git blob header for a file of `size` bytes.
Hasher hasher_for(Etag::Kind kind, std::uint64_t size);

std::string sha256_hex(std::string_view data);
// Lower-case hex of raw bytes, and back (nullopt unless even-length hex).
std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);
std::string git_blob_sha1_hex(std::string_view data);

// Hashes `size` bytes of an open file from offset 0 as `kind` requires.
Result<std::string> hash_file(const std::filesystem::path& path, Etag::Kind kind);

// Feeds bytes [`at`, `end`) of the open file `fd` to `h`, advancing `at` as
// it goes (so a caller that stops keeps what was hashed). Stops early, with
// success, when `stop` becomes true. A read error or a file shorter than
// `end` is an error naming `what` (EIO for the short file).
Status hash_range(int fd, Hasher& h, std::uint64_t& at, std::uint64_t end, const std::string& what,
                  const std::atomic<bool>* stop = nullptr);

} // namespace llmpt::util
