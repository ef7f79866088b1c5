#include "common.hpp"

#include <cctype>
#include <csignal>
#include <limits>

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

void warn_env(const Settings& s) {
    for (const auto& problem : s.env_problems) fmt::print(stderr, "llmpt: warning: {}\n", problem);
}

int report(const Error& e) {
    fmt::print(stderr, "llmpt: error: {}\n", e.what());
    return e.exit_code() == 0 ? 1 : e.exit_code();
}

int usage_error(const std::string& message) {
    fmt::print(stderr, "llmpt: error: {}\nRun with --help for usage.\n", message);
    return 2;
}

std::optional<RepoType> repo_type_option(const std::string& s) { return parse_repo_type(s); }

std::optional<int> parse_rate(const std::string& s) {
    if (s.empty() || s.size() > 16) return std::nullopt;
    std::size_t digits = 0;
    while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
    if (digits == 0) return std::nullopt;
    long long v = std::stoll(s.substr(0, digits));
    const auto unit = s.substr(digits);
    if (unit == "K" || unit == "k") v <<= 10;
    else if (unit == "M" || unit == "m") v <<= 20;
    else if (unit == "G" || unit == "g") v <<= 30;
    else if (!unit.empty()) return std::nullopt;
    if (v > std::numeric_limits<int>::max()) return std::nullopt;
    return static_cast<int>(v);
}

} // namespace llmpt::cli
