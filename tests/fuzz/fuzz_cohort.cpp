// The cold-start protocol as the tracker reads it: join, lease and report
// bodies (a report carries a file's piece layer).
#include "fuzz.hpp"
#include "tracker/cohort_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmpt::tracker::cohort;
    const auto body = llmpt::fuzz::text(data, size);
    if (auto j = parse_join(body); !j.error) {
        auto again = parse_join(join_body(j.value));
        LLMPT_FUZZ_CHECK(!again.error);
    }
    if (auto l = parse_lease(body); !l.error) {
        auto again = parse_lease(lease_body(l.value));
        LLMPT_FUZZ_CHECK(!again.error);
    }
    if (auto r = parse_report(body); !r.error) {
        auto again = parse_report(report_body(r.value));
        LLMPT_FUZZ_CHECK(!again.error);
    }
    return 0;
}
