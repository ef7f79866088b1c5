// The body of POST /api/v1/publish as the tracker reads it (JSON carrying a
// base64 torrent, checked as a snapshot torrent of its revision).
#include "fuzz.hpp"
#include "tracker/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmpt;
    const auto p = tracker::protocol::parse_publish(fuzz::text(data, size));
    if (!p.error) {
        LLMPT_FUZZ_CHECK(!p.repo_id.empty());
        LLMPT_FUZZ_CHECK(p.facts && p.facts->info_hash.v2().size() == 64);
    }
    return 0;
}
