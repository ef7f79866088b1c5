// The tracker's BitTorrent side: announce and scrape query strings (raw,
// percent-encoded binary) and the query parser of our HTTP servers.
#include "fuzz.hpp"
#include "server/http_server.hpp"
#include "tracker/server/announce.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmpt;
    const std::string query(fuzz::text(data, size));
    if (auto a = tracker::parse_announce(query, 200)) {
        LLMPT_FUZZ_CHECK(a->info_hash.size() == 20);
        LLMPT_FUZZ_CHECK(a->peer_id.size() == 20);
        LLMPT_FUZZ_CHECK(a->numwant >= 0 && a->numwant <= 200);
    }
    if (auto s = tracker::parse_scrape(query, 64)) {
        LLMPT_FUZZ_CHECK(s->size() <= 64);
        for (const auto& h : *s) LLMPT_FUZZ_CHECK(h.size() == 20);
    }
    (void)server::parse_query(query);
    return 0;
}
