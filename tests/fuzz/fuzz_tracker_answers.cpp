// The tracker's REST answers as the client reads them: the torrent records
// of a lookup, a publish's result, an error body, a cohort answer.
#include "fuzz.hpp"
#include "tracker/cohort_protocol.hpp"
#include "tracker/protocol.hpp"

#include <nlohmann/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmpt::tracker;
    const auto body = llmpt::fuzz::text(data, size);
    if (auto records = protocol::parse_records(body))
        for (const auto& r : *records) {
            // What the client read, written back and read again, is the same record.
            const auto again = protocol::parse_record(protocol::record_json(r));
            LLMPT_FUZZ_CHECK(again && again->info_hash == r.info_hash && again->files.size() == r.files.size());
        }
    (void)protocol::parse_publish_result(body);
    (void)protocol::error_text(500, body);
    if (auto a = cohort::parse_answer(body)) {
        // What the client read, written back and read again, is the same answer.
        auto again = cohort::parse_answer(cohort::answer_body(*a));
        LLMPT_FUZZ_CHECK(again && again->state == a->state && again->chunk.has_value() == a->chunk.has_value());
    }
    return 0;
}
