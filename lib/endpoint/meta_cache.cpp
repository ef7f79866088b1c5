#include "endpoint/meta_cache.hpp"

#include "util/base64.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

namespace llmpt::endpoint {

namespace fs = std::filesystem;
using nlohmann::json;

MetaCache::MetaCache(fs::path dir, std::size_t max_body, std::uint64_t max_total)
    : dir_(std::move(dir)), max_body_(max_body), max_total_(max_total) {}

std::string MetaCache::key(const std::string& method, const std::string& target, const std::string& body,
                           const std::string& authorization) {
    // The token is part of the key: a gated answer is only ever given to
    // the token it was given to.
    return util::sha256_hex(method + "\n" + target + "\n" + util::sha256_hex(body) + "\n" + authorization);
}

std::optional<MetaCache::Entry> MetaCache::get(const std::string& key) const {
    const auto path = dir_ / (key + ".json");
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::error_code ec;
    fs::last_write_time(path, fs::file_time_type::clock::now(), ec); // used now: trimmed last
    std::stringstream text;
    text << in.rdbuf();
    const json j = json::parse(text.str(), nullptr, false);
    if (!j.is_object() || !j.contains("status") || !j["status"].is_number_integer() || !j.contains("headers") ||
        !j["headers"].is_object() || !j.contains("body") || !j["body"].is_string() || !j.contains("stored") ||
        !j["stored"].is_number_integer())
        return std::nullopt;
    Entry e;
    e.status = j["status"].get<int>();
    for (const auto& [k, v] : j["headers"].items())
        if (v.is_string()) e.headers[k] = v.get<std::string>();
    auto body = util::base64_decode(j["body"].get<std::string>());
    if (!body) return std::nullopt;
    e.body = std::move(*body);
    e.stored = std::chrono::system_clock::time_point(std::chrono::seconds(j["stored"].get<std::int64_t>()));
    return e;
}

void MetaCache::put(const std::string& key, const Entry& e) const {
    if (e.body.size() > max_body_) return;
    std::error_code ec;
    fs::create_directories(dir_, ec);
    json headers = json::object();
    for (const auto& [k, v] : e.headers) headers[k] = v;
    const json j = {{"status", e.status},
                    {"headers", headers},
                    {"body", util::base64_encode(e.body)},
                    {"stored", std::chrono::duration_cast<std::chrono::seconds>(e.stored.time_since_epoch()).count()}};
    const auto text = j.dump(-1, ' ', false, json::error_handler_t::replace);
    if (!util::write_file_atomic(dir_ / (key + ".json"), text)) return;
    bool over = false;
    {
        std::lock_guard lk(mu_);
        // A replaced entry counts twice until the next trim: the bound errs
        // towards trimming early, never towards growing.
        if (total_) *total_ += text.size();
        over = !total_ || *total_ > max_total_;
    }
    if (over) trim();
}

void MetaCache::trim() const {
    struct File {
        fs::path path;
        std::uint64_t size;
        fs::file_time_type used;
    };
    std::vector<File> files;
    std::uint64_t total = 0;
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() != ".json") continue;
        std::error_code e1, e2;
        const auto size = it->file_size(e1);
        const auto used = it->last_write_time(e2);
        if (e1 || e2) continue;
        files.push_back({it->path(), size, used});
        total += size;
    }
    if (total > max_total_) {
        std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.used < b.used; });
        for (const auto& f : files) {
            if (total <= max_total_) break;
            if (fs::remove(f.path, ec)) total -= f.size;
        }
    }
    std::lock_guard lk(mu_);
    total_ = total;
}

} // namespace llmpt::endpoint
