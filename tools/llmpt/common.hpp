// Shared bits of the CLI: subcommand registration, signals, option parsing.
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/repo.hpp>

#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

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

// Prints "llmpt: error: ..." and returns the error's exit code.
int report(const Error& e);
// A usage error: message plus a hint to --help; exit code 2.
int usage_error(const std::string& message);

struct HostPort {
    std::string host;
    std::uint16_t port = 0;
};
// "HOST:PORT", "[v6]:PORT", ":PORT" or "PORT".
std::optional<HostPort> parse_listen(const std::string& s, const std::string& default_host);

std::optional<RepoType> repo_type_option(const std::string& s);

} // namespace llmpt::cli
