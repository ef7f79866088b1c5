// Typed events a download emits. They are delivered on the thread that called
// llmpt::download(), never from inside a transfer thread.
#pragma once

#include <llmpt/repo.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace llmpt {

// Emitted once the plan is known.
struct PlanEvent {
    CommitId commit;
    std::size_t files_total = 0;     // files in the selection
    std::size_t files_cached = 0;    // already in the cache
    std::uint64_t bytes_total = 0;   // bytes in the selection
    std::uint64_t bytes_cached = 0;  // of which already in the cache
};

// Periodic (about 5 per second) while bytes move.
struct ProgressEvent {
    std::uint64_t bytes_done = 0;    // includes cached and resumed bytes
    std::uint64_t bytes_total = 0;
    double rate = 0;                 // bytes per second over the last seconds
    std::vector<std::string> active; // files being transferred now
};

// A file was verified and placed; it is usable from now on.
struct FileReadyEvent {
    std::string path;                // repo-relative path
    std::string local_path;          // where it is now (snapshot or local dir)
    std::uint64_t size = 0;
};

// Something went wrong but the download goes on (a retry, a refetch).
struct WarningEvent {
    std::string message;
};

using Event = std::variant<PlanEvent, ProgressEvent, FileReadyEvent, WarningEvent>;
using EventHandler = std::function<void(const Event&)>;

// The JSON object of an event, as `llmpt download --events` prints it and the
// daemon streams it: {"event": "plan"|"progress"|"file"|"warning", ...}.
std::string to_json(const Event& e);
// The event a to_json() text describes; nullopt for anything else.
std::optional<Event> event_from_json(std::string_view text);

// A byte count for people: "512 B", "1.5 KiB", "3.2 GiB" (binary units, one
// decimal above bytes), as the CLI and the library's messages print sizes.
std::string human_bytes(std::uint64_t bytes);

} // namespace llmpt
