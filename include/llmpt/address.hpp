// Listen addresses as every llmpt command takes them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmpt {

struct HostPort {
    std::string host;       // without brackets
    std::uint16_t port = 0;
};

// "HOST:PORT", "[v6]:PORT", ":PORT" or "PORT" (the host is then `default_host`).
std::optional<HostPort> parse_host_port(std::string_view text, std::string_view default_host);

// The host as a URL needs it: IPv6 literals in brackets ("[::1]").
std::string url_host(std::string_view host);

} // namespace llmpt
