#include "common.hpp"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>

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

Result<std::unique_ptr<Session>> start_session(const Settings& settings, const std::vector<std::string>& urls) {
    // libtorrent's session start has OpenSSL read the system's CA bundle
    // (about 200 KB of PEM: 25-35 ms of CPU, most of a download's start;
    // eight downloads starting together on two cores wait about 0.2 s for
    // it, bench/README.md). libtorrent uses those certificates for HTTPS
    // only: trackers and web seeds (both checked under
    // validate_https_trackers). With none of its URLs https the bundle is
    // left unread: SSL_CERT_FILE names nothing while the session starts, and
    // has its old value (or none) again right after. Changing the
    // environment is safe here: no other thread has started yet, and
    // neither setenv on a set variable nor unsetenv frees anything a thread
    // started since could be reading.
    const auto https = [](const std::string& url) {
        return url.size() >= 6 && std::equal(url.begin(), url.begin() + 6, "https:",
                                             [](char a, char b) { return std::tolower(a) == b; });
    };
    if (std::any_of(urls.begin(), urls.end(), https)) return Session::start(settings);
    const char* had = std::getenv("SSL_CERT_FILE");
    const std::optional<std::string> old = had ? std::optional<std::string>(had) : std::nullopt;
    ::setenv("SSL_CERT_FILE", "/nonexistent/llmpt: no CA bundle read without https", 1);
    auto session = Session::start(settings);
    if (old) ::setenv("SSL_CERT_FILE", old->c_str(), 1);
    else ::unsetenv("SSL_CERT_FILE");
    return session;
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
