#include "endpoint/meta_cache.hpp"

#include "util/base64.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace llmpt::endpoint {

namespace fs = std::filesystem;
using nlohmann::json;

MetaCache::MetaCache(fs::path dir, std::size_t max_body) : dir_(std::move(dir)), max_body_(max_body) {}

std::string MetaCache::key(const std::string& method, const std::string& target, const std::string& body,
                           const std::string& authorization) {
    // The token is part of the key: a gated answer is only ever given to
    // the token it was given to.
    return util::sha256_hex(method + "\n" + target + "\n" + util::sha256_hex(body) + "\n" + authorization);
}

std::optional<MetaCache::Entry> MetaCache::get(const std::string& key) const {
    std::ifstream in(dir_ / (key + ".json"), std::ios::binary);
    if (!in) return std::nullopt;
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
    (void)util::write_file_atomic(dir_ / (key + ".json"), j.dump(-1, ' ', false, json::error_handler_t::replace));
}

} // namespace llmpt::endpoint
