// Percent-encoding as the Hub's URLs need it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace llmpt::util {

// Encodes everything but RFC 3986 unreserved characters ("refs/pr/1" -> "refs%2Fpr%2F1").
std::string url_encode(std::string_view s);
// Same, but keeps '/' (for file paths inside a URL path).
std::string url_encode_path(std::string_view s);
// A base URL without its trailing slashes ("http://h/x//" -> "http://h/x").
std::string trim_trailing_slashes(std::string_view url);

// Strict decoding: a malformed escape is an error (nullopt). '+' stays '+'.
std::optional<std::string> url_decode(std::string_view s);

} // namespace llmpt::util
