// The resume journal of a partial download, as read back after a crash (or
// as a hostile local user left it). The first 8 bytes are the file's size.
#include "download/fetcher.hpp"
#include "fuzz.hpp"

#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmpt;
    if (size < 8) return 0;
    std::uint64_t file_size = 0;
    std::memcpy(&file_size, data, 8);
    file_size >>= 16; // up to 256 TiB, like a real model file
    const auto j = fetch::parse_journal(fuzz::text(data + 8, size - 8), file_size);
    if (!j) return 0;
    LLMPT_FUZZ_CHECK(j->chunk_size > 0);
    LLMPT_FUZZ_CHECK(j->done.size() == (file_size == 0 ? 0 : (file_size - 1) / j->chunk_size + 1));
    std::uint64_t done = 0;
    for (const auto d : j->done) done += d;
    LLMPT_FUZZ_CHECK(done <= file_size);
    const auto written = fetch::resume_journal(file_size, j->chunk_size, j->tmp_name, j->done);
    const auto again = fetch::parse_journal(written, file_size);
    LLMPT_FUZZ_CHECK(again && again->done == j->done && again->tmp_name == j->tmp_name);
    return 0;
}
