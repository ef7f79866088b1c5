#include <llmpt/address.hpp>

#include <charconv>

namespace llmpt {

std::optional<HostPort> parse_host_port(std::string_view s, std::string_view default_host) {
    HostPort hp{std::string(default_host), 0};
    std::string_view port;
    if (!s.empty() && s[0] == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
        hp.host = std::string(s.substr(1, close - 1));
        port = s.substr(close + 2);
    } else if (const auto colon = s.rfind(':'); colon != std::string_view::npos) {
        if (colon > 0) hp.host = std::string(s.substr(0, colon));
        port = s.substr(colon + 1);
    } else {
        port = s;
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
        return std::nullopt;
    unsigned value = 0;
    std::from_chars(port.data(), port.data() + port.size(), value);
    if (value > 65535 || hp.host.empty()) return std::nullopt;
    hp.port = static_cast<std::uint16_t>(value);
    return hp;
}

std::string url_host(std::string_view host) {
    if (host.find(':') != std::string_view::npos) return "[" + std::string(host) + "]";
    return std::string(host);
}

} // namespace llmpt
