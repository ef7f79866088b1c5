// llmpt serve's request lines: the route of a raw path (percent-decoded one
// segment at a time), a Range header, and strict URL decoding. The input is
// a method, a space, a path, then a newline and a Range header.
#include "fuzz.hpp"
#include "hub/hub.hpp"
#include "serve/routes.hpp"
#include "util/url.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmpt;
    const auto input = fuzz::text(data, size);
    const auto nl = input.find('\n');
    const auto line = input.substr(0, nl);
    const auto space = line.find(' ');
    const std::string method(line.substr(0, space == std::string_view::npos ? 0 : space));
    const std::string path(space == std::string_view::npos ? line : line.substr(space + 1));
    if (auto r = serve::parse_route(method, path)) {
        LLMPT_FUZZ_CHECK(r->path.empty() || hub::safe_repo_path(r->path));
    }
    const std::string range(nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1));
    for (std::uint64_t file_size : {0ull, 1ull, 1000ull, 1ull << 40})
        if (auto rs = serve::parse_range(range, file_size)) {
            LLMPT_FUZZ_CHECK(rs->first <= rs->last);
            LLMPT_FUZZ_CHECK(rs->last < file_size);
        }
    (void)util::url_decode(path);
    return 0;
}
