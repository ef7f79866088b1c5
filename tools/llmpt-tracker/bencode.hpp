// A minimal bencode writer for tracker answers (BEP 3). Callers write dict
// keys in sorted order, as bencode requires. Reading is libtorrent's bdecode.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace llmpt::tracker {

class Bencoder {
public:
    Bencoder& str(std::string_view s) {
        out_ += std::to_string(s.size());
        out_ += ':';
        out_.append(s.data(), s.size());
        return *this;
    }
    Bencoder& integer(std::int64_t v) {
        out_ += 'i';
        out_ += std::to_string(v);
        out_ += 'e';
        return *this;
    }
    Bencoder& dict() { out_ += 'd'; return *this; }
    Bencoder& list() { out_ += 'l'; return *this; }
    Bencoder& end() { out_ += 'e'; return *this; }
    // key + value helpers for dicts
    Bencoder& kv(std::string_view k, std::string_view v) { return str(k).str(v); }
    Bencoder& kv(std::string_view k, std::int64_t v) { return str(k).integer(v); }

    const std::string& bytes() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

// d14:failure reason{n}:{reason}e
inline std::string failure(std::string_view reason) {
    return Bencoder().dict().kv("failure reason", reason).end().take();
}

} // namespace llmpt::tracker
