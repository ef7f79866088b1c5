// The fetcher's judgements of an answer (download/fetcher): what its headers
// say before the body, and whether an attempt completes, ends the file or is
// tried again. No sockets: statuses and headers as a server would send them.
#include "download/fetcher.hpp"

#include <catch2/catch.hpp>

using namespace llmpt;
using fetch::AttemptVerdict;
using fetch::HeadersVerdict;

namespace {

fetch::FetchTarget target() {
    return fetch::FetchTarget{"model.bin", "http://hub.test/org/m/resolve/main/model.bin", 1000,
                              *Etag::parse(std::string(64, 'a')), {}, {}, {}};
}

Result<http::Response> answer(int status) {
    http::Response r;
    r.status = status;
    return r;
}

} // namespace

TEST_CASE("fetcher: a ranged answer must be the range asked for, of the Hub's file") {
    const auto t = target();
    using Kind = HeadersVerdict::Kind;
    CHECK(fetch::judge_headers(t, 500, true, 206, {{"content-range", "bytes 500-999/1000"}}).kind == Kind::take_body);
    CHECK(fetch::judge_headers(t, 500, true, 206, {{"content-range", "bytes 500-999/*"}}).kind == Kind::take_body);

    const auto elsewhere = fetch::judge_headers(t, 500, true, 206, {{"content-range", "bytes 0-499/1000"}});
    CHECK(elsewhere.kind == Kind::refuse);
    CHECK(elsewhere.error->code == errc::failure);
    CHECK(fetch::judge_headers(t, 500, true, 206, {}).kind == Kind::refuse);
    CHECK(fetch::judge_headers(t, 500, true, 206, {{"content-range", "500-999"}}).kind == Kind::refuse);

    const auto other_file = fetch::judge_headers(t, 500, true, 206, {{"content-range", "bytes 500-999/2000"}});
    CHECK(other_file.kind == Kind::refuse);
    CHECK(other_file.error->code == errc::integrity); // wrong bytes: one more try from scratch
    CHECK(other_file.error->message == "server says model.bin has 2000 bytes, the Hub says 1000");
}

TEST_CASE("fetcher: a whole answer to a ranged request starts the file over; a whole file must have its size") {
    const auto t = target();
    using Kind = HeadersVerdict::Kind;
    CHECK(fetch::judge_headers(t, 500, true, 200, {{"content-length", "1000"}}).kind == Kind::range_ignored);
    CHECK(fetch::judge_headers(t, 0, false, 200, {{"content-length", "1000"}}).kind == Kind::take_body);
    CHECK(fetch::judge_headers(t, 0, false, 200, {}).kind == Kind::take_body);
    const auto short_file = fetch::judge_headers(t, 0, false, 200, {{"content-length", "999"}});
    CHECK(short_file.kind == Kind::refuse);
    CHECK(short_file.error->code == errc::integrity);
    for (const int status : {302, 404, 429, 503})
        CHECK(fetch::judge_headers(t, 0, false, status, {}).kind == Kind::judge_after);
}

TEST_CASE("fetcher: an attempt completes, ends the file, or is tried again") {
    const auto t = target();
    using Kind = AttemptVerdict::Kind;
    CHECK(fetch::judge_attempt(t, answer(206), true).kind == Kind::complete);
    CHECK(fetch::judge_attempt(t, answer(200), false).kind == Kind::retry); // a short body
    for (const int status : {408, 429, 500, 503})
        CHECK(fetch::judge_attempt(t, answer(status), false).kind == Kind::retry);

    const auto missing = fetch::judge_attempt(t, answer(404), false);
    CHECK(missing.kind == Kind::refused);
    CHECK(missing.error->code == errc::not_found);
    CHECK(missing.error->message == "HTTP 404 for model.bin");
    CHECK(fetch::judge_attempt(t, answer(401), false).error->code == errc::auth);
    CHECK(fetch::judge_attempt(t, answer(403), false).error->code == errc::auth);
    CHECK(fetch::judge_attempt(t, answer(302), false).error->code == errc::failure); // redirects are curl's

    CHECK(fetch::judge_attempt(t, Error(errc::network, "reset", t.url), false).kind == Kind::retry);
    const auto cancelled = fetch::judge_attempt(t, Error(errc::interrupted, "interrupted", t.url), false);
    CHECK(cancelled.kind == Kind::refused);
    CHECK(cancelled.error->code == errc::interrupted);
}

TEST_CASE("fetcher: real progress is a MiB or the rest of the chunk") {
    CHECK(fetch::real_progress(1 << 20, 8 << 20));
    CHECK_FALSE(fetch::real_progress((1 << 20) - 1, 8 << 20));
    CHECK(fetch::real_progress(100, 100));
    CHECK_FALSE(fetch::real_progress(0, 100));
}
