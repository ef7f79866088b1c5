// Torrent inspection: the bytes of a .torrent a publisher, a tracker or a
// peer hands us (bencode, v2 file trees, piece layers), under the limits.
#include "fuzz.hpp"
#include "hub/hub.hpp"
#include "torrent/inspect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmpt;
    torrent::Limits limits;
    limits.max_pieces = 100000; // keeps each run fast; the code path is the same
    auto facts = torrent::inspect(fuzz::text(data, size), limits);
    if (!facts) return 0;
    LLMPT_FUZZ_CHECK(facts->info_hash.v2().size() == 64);
    std::uint64_t total = 0;
    for (const auto& f : facts->files) total += f.size;
    LLMPT_FUZZ_CHECK(total == facts->total_size);
    // What the snapshot rules let through is safe to lay out on disk.
    if (torrent::check_snapshot_torrent(*facts, facts->name)) {
        LLMPT_FUZZ_CHECK(facts->name.size() == 40);
        for (const auto& f : facts->files) LLMPT_FUZZ_CHECK(hub::safe_repo_path(f.path));
    }
    return 0;
}
