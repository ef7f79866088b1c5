// The Hub's answers: revision and tree / paths-info JSON, and the headers we
// read (resolve metadata, Link pagination, Retry-After and RateLimit). The
// input is a body, then a line "--", then "name: value" header lines.
#include "fuzz.hpp"
#include "http/retry.hpp"
#include "hub/hub.hpp"

#include <cctype>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmpt;
    const auto input = fuzz::text(data, size);
    const auto split = input.find("\n--\n");
    const std::string body(input.substr(0, split));
    (void)hub::parse_revision_answer(body);
    if (auto files = hub::parse_file_list(body))
        for (const auto& f : *files) LLMPT_FUZZ_CHECK(hub::safe_repo_path(f.path));

    http::Headers headers;
    std::string_view rest = split == std::string_view::npos ? std::string_view{} : input.substr(split + 4);
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        const auto line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name(line.substr(0, colon));
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        headers[name] = std::string(line.substr(colon + 1));
    }
    (void)hub::parse_file_headers(headers, "model.safetensors");
    (void)hub::next_link(headers);
    if (auto wait = http::server_wait(headers)) LLMPT_FUZZ_CHECK(wait->count() >= 0);
    return 0;
}
