// Sizes for people, as the CLI and the library's messages print them.
#include <llmpt/events.hpp>

#include <fmt/format.h>

#include <array>

namespace llmpt {

std::string human_bytes(std::uint64_t bytes) {
    constexpr std::array<const char*, 5> units{"B", "KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) return fmt::format("{} B", bytes);
    auto v = static_cast<double>(bytes);
    std::size_t u = 0;
    while (v >= 1024 && u + 1 < units.size()) {
        v /= 1024;
        ++u;
    }
    return fmt::format("{:.1f} {}", v, units[u]);
}

} // namespace llmpt
