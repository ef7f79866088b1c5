// How long llmpt waits before trying a request again: what the server asks
// (Retry-After, the Hub's RateLimit header), or a backoff.
#include "http/retry.hpp"

#include <catch2/catch.hpp>

#include <ctime>

using namespace llmpt;
using namespace std::chrono;
using http::server_wait;

TEST_CASE("Retry-After in seconds is the server's wait") {
    CHECK(server_wait({{"retry-after", "7"}}) == seconds(7));
    CHECK(server_wait({{"retry-after", " 0 "}}) == seconds(0));
    CHECK(server_wait({{"retry-after", "99999999999999999999"}}) == seconds(366LL * 24 * 3600));
    CHECK_FALSE(server_wait({{"retry-after", "-3"}}));
    CHECK_FALSE(server_wait({{"retry-after", "3s"}}));
    CHECK_FALSE(server_wait({{"retry-after", ""}}));
    CHECK_FALSE(server_wait({}));
}

TEST_CASE("Retry-After as an HTTP-date waits until then") {
    char date[64];
    const std::time_t in_a_minute = std::time(nullptr) + 60;
    std::tm tm{};
    gmtime_r(&in_a_minute, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    const auto wait = server_wait({{"retry-after", date}});
    REQUIRE(wait);
    CHECK(*wait >= seconds(58));
    CHECK(*wait <= seconds(60));
    CHECK(server_wait({{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"}}) == seconds(0)); // past
}

TEST_CASE("the Hub's RateLimit header: the reset of an exhausted quota") {
    CHECK(server_wait({{"ratelimit", "\"api\";r=0;t=55"}}) == seconds(55));
    CHECK(server_wait({{"ratelimit", "\"resolvers\"; r=0; t=12"}}) == seconds(12));
    // Quota left: no reason to wait.
    CHECK_FALSE(server_wait({{"ratelimit", "\"api\";r=10;t=55"}}));
    // Several quotas: the longest exhausted one.
    CHECK(server_wait({{"ratelimit", "\"api\";r=0;t=5, \"resolvers\";r=0;t=40, \"pages\";r=3;t=90"}}) ==
          seconds(40));
    // Retry-After wins when both are sent.
    CHECK(server_wait({{"ratelimit", "\"api\";r=0;t=55"}, {"retry-after", "3"}}) == seconds(3));
    // Garbage is ignored, not guessed at.
    for (const char* bad : {"", ";;;", "\"api\";r=0", "\"api\";t=5", "\"api\";r=x;t=5", "\"api\";r=0;t=-1",
                            "r=0;t=5e3", ",,,"})
        CHECK_FALSE(server_wait({{"ratelimit", bad}}));
}

TEST_CASE("retry_delay takes the server's wait, bounded; else backs off") {
    http::RetryPolicy p;
    p.base_delay = milliseconds(100);
    p.max_delay = milliseconds(1000);
    p.max_server_wait = seconds(30);
    CHECK(http::retry_delay(p, 1, {{"ratelimit", "\"api\";r=0;t=20"}}) == seconds(20));
    CHECK(http::retry_delay(p, 1, {{"retry-after", "600"}}) == seconds(30));
    for (int attempt = 1; attempt < 40; ++attempt) {
        const auto d = http::retry_delay(p, attempt, {});
        CHECK(d >= milliseconds(50));
        CHECK(d <= milliseconds(1000));
    }
}

TEST_CASE("wait_to_retry gives up at once on a wait longer than the bound, and says why") {
    http::RetryPolicy p;
    p.max_server_wait = seconds(30);
    std::string told;
    p.on_wait = [&](const std::string& m) { told = m; };
    const auto st = http::wait_to_retry(p, 1, 429, {{"ratelimit", "\"api\";r=0;t=3600"}},
                                        "https://hub.example/api/models/x", nullptr);
    REQUIRE_FALSE(st);
    CHECK(st.error().code == errc::network);
    CHECK(st.error().message.find("asks to wait 3600 s") != std::string::npos);
    CHECK(st.error().message.find("HF_TOKEN") != std::string::npos);
    CHECK(told.empty());

    // A short wait is waited out and told.
    const auto quick = http::wait_to_retry(p, 1, 429, {{"retry-after", "0"}}, "https://hub.example/x", nullptr);
    CHECK(quick);
    CHECK(told.empty()); // under a second: not worth a line
    std::atomic<bool> cancel{true};
    const auto cancelled = http::wait_to_retry(p, 1, 429, {{"retry-after", "1"}}, "https://hub.example/x", &cancel);
    REQUIRE_FALSE(cancelled);
    CHECK(cancelled.error().code == errc::interrupted);
    CHECK(told == "HTTP 429 (rate limited) from hub.example: waiting 1 s as the server asks");
}

TEST_CASE("perform_with_retry: nobody listening is tried twice, a timeout and a 503 up to the bound") {
    http::RetryPolicy p;
    p.max_retries = 3;
    p.base_delay = milliseconds(1);
    p.max_delay = milliseconds(2);
    http::Request req;
    req.url = "http://127.0.0.1:9/x";
    int calls = 0;
    const auto failing = [&](llmpt::Cause why) {
        return [&calls, why](const http::Request& r) -> llmpt::Result<http::Response> {
            ++calls;
            return llmpt::Error(errc::network, "transport", r.url, why);
        };
    };

    auto r = http::perform_with_retry(req, p, failing(llmpt::Cause::unreachable));
    REQUIRE_FALSE(r);
    CHECK(r.error().cause == llmpt::Cause::unreachable);
    CHECK(calls == 2);

    calls = 0;
    r = http::perform_with_retry(req, p, failing(llmpt::Cause::timed_out));
    REQUIRE_FALSE(r);
    CHECK(calls == 4); // the first try and max_retries more

    calls = 0;
    r = http::perform_with_retry(req, p, [&](const http::Request&) -> llmpt::Result<http::Response> {
        http::Response resp;
        resp.status = ++calls < 3 ? 503 : 200;
        return resp;
    });
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(calls == 3);

    calls = 0; // a refusal is not retried
    r = http::perform_with_retry(req, p, [&](const http::Request&) -> llmpt::Result<http::Response> {
        ++calls;
        http::Response resp;
        resp.status = 404;
        return resp;
    });
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(calls == 1);
}
