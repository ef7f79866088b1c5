// The daemon's task requests (POST /v1/tasks bodies from local clients).
#include "fuzz.hpp"

#include <llmpt/daemon.hpp>
#include <llmpt/download.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmpt;
    auto r = daemon::TaskRequest::parse(fuzz::text(data, size));
    if (!r) return 0;
    // A parsed request survives its own JSON.
    auto again = daemon::TaskRequest::parse(r->to_json());
    LLMPT_FUZZ_CHECK(again && again->repo == r->repo && again->files == r->files);
    Settings settings;
    DownloadRequest download;
    (void)r->apply(settings, download);
    return 0;
}
