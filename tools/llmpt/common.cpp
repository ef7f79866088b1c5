#include "common.hpp"

#include <csignal>
#include <cstdio>

namespace llmpt::cli {

std::atomic<bool> g_interrupted{false};

namespace {
void on_signal(int) {
    if (g_interrupted.exchange(true)) std::_Exit(130); // second Ctrl+C: leave now
}
} // namespace

void install_interrupt_handler() {
    struct sigaction sa {};
    sa.sa_handler = &on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

int report(const Error& e) {
    std::fprintf(stderr, "llmpt: error: %s\n", e.what().c_str());
    return e.exit_code() == 0 ? 1 : e.exit_code();
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "llmpt: error: %s\nRun with --help for usage.\n", message.c_str());
    return 2;
}

std::optional<HostPort> parse_listen(const std::string& s, const std::string& default_host) {
    HostPort hp{default_host, 0};
    std::string port;
    if (!s.empty() && s[0] == '[') {
        const auto close = s.find(']');
        if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
        hp.host = s.substr(1, close - 1);
        port = s.substr(close + 2);
    } else if (const auto colon = s.rfind(':'); colon != std::string::npos) {
        if (colon > 0) hp.host = s.substr(0, colon);
        port = s.substr(colon + 1);
    } else {
        port = s;
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    const auto p = std::stoul(port);
    if (p > 65535) return std::nullopt;
    hp.port = static_cast<std::uint16_t>(p);
    return hp;
}

std::optional<RepoType> repo_type_option(const std::string& s) { return parse_repo_type(s); }

} // namespace llmpt::cli
