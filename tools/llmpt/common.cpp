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

void warn_env(const Settings& s) {
    for (const auto& problem : s.env_problems) std::fprintf(stderr, "llmpt: warning: %s\n", problem.c_str());
}

int report(const Error& e) {
    std::fprintf(stderr, "llmpt: error: %s\n", e.what().c_str());
    return e.exit_code() == 0 ? 1 : e.exit_code();
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "llmpt: error: %s\nRun with --help for usage.\n", message.c_str());
    return 2;
}

std::optional<RepoType> repo_type_option(const std::string& s) { return parse_repo_type(s); }

} // namespace llmpt::cli
