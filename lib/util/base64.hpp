// Standard base64 (RFC 4648, with padding) on OpenSSL's EVP block coder.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace llmpt::util {

std::string base64_encode(std::string_view bytes);
// Strict: nullopt for anything but canonical padded base64 (no whitespace).
std::optional<std::string> base64_decode(std::string_view text);

} // namespace llmpt::util
