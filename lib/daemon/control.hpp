// daemon/control: who serves a cache. The daemon holds
// `{cache}/.locks/llmpt-daemon.lock` (flock) and writes into it who it is
// ({"pid", "socket"}), so a second daemon is refused by name and
// `llmpt daemon stop|status` find the first; the control socket lives in a
// runtime folder that is ours alone. The client side (holder(), call(),
// default_socket()) is in llmpt/daemon.hpp.
#pragma once

#include <llmpt/error.hpp>

#include "cache/layout.hpp"

#include <filesystem>
#include <vector>

namespace llmpt::daemon {

std::filesystem::path lock_path(const std::filesystem::path& cache);

// Takes every cache's daemon lock and writes the holder's text into it; a
// cache that another daemon serves is an error naming that daemon.
Result<std::vector<cache::FileLock>> take_locks(const std::vector<std::filesystem::path>& caches,
                                                const std::filesystem::path& socket);

} // namespace llmpt::daemon
