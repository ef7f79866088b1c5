// endpoint/meta_cache: the Hub's metadata answers kept on disk by the HF
// endpoint, one file per request ({dir}/{sha256 of method, target, body and
// Authorization}), so that a commit already known resolves while the Hub is
// down. When an answer may be used is endpoint/policy.hpp's cache_use().
// The folder is bounded: past `max_total` bytes the least recently used
// answers go (a read counts as a use).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace llmpt::endpoint {

class MetaCache {
public:
    struct Entry {
        int status = 200;
        std::map<std::string, std::string> headers; // lower-case names
        std::string body;
        std::chrono::system_clock::time_point stored;
    };

    // Bodies larger than `max_body` are not kept; the folder holds at most
    // about `max_total` bytes.
    explicit MetaCache(std::filesystem::path dir, std::size_t max_body = 8u << 20,
                       std::uint64_t max_total = 256u << 20);

    static std::string key(const std::string& method, const std::string& target, const std::string& body,
                           const std::string& authorization);
    // nullopt: none, or unreadable (a damaged entry is no entry).
    std::optional<Entry> get(const std::string& key) const;
    // Best effort: an entry that cannot be written is not kept.
    void put(const std::string& key, const Entry& e) const;

private:
    // Removes the least recently used entries until the folder is within
    // max_total_; learns the folder's size the first time.
    void trim() const;

    std::filesystem::path dir_;
    std::size_t max_body_;
    std::uint64_t max_total_;
    mutable std::mutex mu_;                  // guards total_
    mutable std::optional<std::uint64_t> total_; // bytes in the folder, as far as we know
};

} // namespace llmpt::endpoint
