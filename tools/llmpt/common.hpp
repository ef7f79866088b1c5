// Shared bits of the CLI: subcommand registration, signals, option parsing.
// Output is written with fmt (fmt::print), as the library formats its messages.
#pragma once

#include <llmpt/address.hpp>
#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>
#include <llmpt/session.hpp>
#include <llmpt/settings.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace llmpt::cli {

// Each subcommand adds itself to the app and returns the function that runs it.
using Runner = std::function<int()>;
Runner add_download(CLI::App& app);
Runner add_serve(CLI::App& app);
Runner add_cache(CLI::App& app);
Runner add_verify(CLI::App& app);
Runner add_create_torrent(CLI::App& app);
Runner add_seed(CLI::App& app);
Runner add_daemon(CLI::App& app);

// Set by SIGINT/SIGTERM once install_interrupt_handler() ran.
extern std::atomic<bool> g_interrupted;
void install_interrupt_handler();

// Prints a warning for each environment variable Settings::from_env() did not understand.
void warn_env(const Settings& s);

// The command's P2P session; `urls` are all libtorrent will reach over HTTP
// (the tracker; the Hub when it may be a web seed). Called while the command
// has no other thread (see common.cpp).
Result<std::unique_ptr<Session>> start_session(const Settings& settings, const std::vector<std::string>& urls);

// Prints "llmpt: error: ..." and returns the error's exit code.
int report(const Error& e);
// A usage error: message plus a hint to --help; exit code 2.
int usage_error(const std::string& message);

// "HOST:PORT", "[v6]:PORT", ":PORT" or "PORT" (llmpt::parse_host_port).
inline std::optional<HostPort> parse_listen(const std::string& s, const std::string& default_host) {
    return parse_host_port(s, default_host);
}

std::optional<RepoType> repo_type_option(const std::string& s);

// "500K", "20M", "1G" (powers of 1024) or plain bytes per second; 0: no limit.
std::optional<int> parse_rate(const std::string& s);

} // namespace llmpt::cli
