// endpoint/meta_cache: the Hub's metadata answers kept on disk by the HF
// endpoint, one file per request ({dir}/{sha256 of method, target, body and
// Authorization}), so that a commit already known resolves while the Hub is
// down. When an answer may be used is endpoint/policy.hpp's cache_use().
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
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

    // Bodies larger than `max_body` are not kept.
    explicit MetaCache(std::filesystem::path dir, std::size_t max_body = 8u << 20);

    static std::string key(const std::string& method, const std::string& target, const std::string& body,
                           const std::string& authorization);
    // nullopt: none, or unreadable (a damaged entry is no entry).
    std::optional<Entry> get(const std::string& key) const;
    // Best effort: an entry that cannot be written is not kept.
    void put(const std::string& key, const Entry& e) const;

private:
    std::filesystem::path dir_;
    std::size_t max_body_;
};

} // namespace llmpt::endpoint
