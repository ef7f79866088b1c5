#include <catch2/catch.hpp>

#include "serve/routes.hpp"

using namespace llmpt;
using serve::parse_range;
using serve::parse_route;
using serve::Route;

TEST_CASE("API routes with one- and two-segment repos") {
    auto r = parse_route("GET", "/api/models/org/name/revision/refs%2Fpr%2F1");
    REQUIRE(r);
    CHECK(r->route == Route::revision);
    CHECK(r->repo == "org/name");
    CHECK(r->revision == "refs/pr/1");
    auto t = parse_route("GET", "/api/datasets/squad/tree/main/sub/dir");
    REQUIRE(t);
    CHECK(t->route == Route::tree);
    CHECK(t->type == RepoType::dataset);
    CHECK(t->repo == "squad");
    CHECK(t->path == "sub/dir");
    auto p = parse_route("POST", "/api/models/a/b/paths-info/main");
    REQUIRE(p);
    CHECK(p->route == Route::paths_info);
    CHECK_FALSE(parse_route("GET", "/api/models/a/b/paths-info/main"));
}

TEST_CASE("resolve routes, datasets prefix and encoded paths") {
    auto r = parse_route("GET", "/org/name/resolve/main/sub/file%20x.bin");
    REQUIRE(r);
    CHECK(r->route == Route::resolve);
    CHECK(r->repo == "org/name");
    CHECK(r->path == "sub/file x.bin");
    auto d = parse_route("HEAD", "/datasets/org/set/resolve/abc/data.csv");
    REQUIRE(d);
    CHECK(d->type == RepoType::dataset);
    CHECK(d->repo == "org/set");
}

TEST_CASE("traversal never parses") {
    CHECK_FALSE(parse_route("GET", "/org/name/resolve/main/../../etc/passwd"));
    CHECK_FALSE(parse_route("GET", "/org/name/resolve/main/%2e%2e/%2e%2e/etc/passwd"));
    CHECK_FALSE(parse_route("GET", "/org/name/resolve/main/a%2F..%2F..%2Fx"));
    CHECK_FALSE(parse_route("GET", "/org/name/resolve/main/a%00b"));
    CHECK_FALSE(parse_route("GET", "/org/name/resolve/main/%zz"));
    CHECK_FALSE(parse_route("GET", "/_cdn/../blobs"));
    CHECK_FALSE(parse_route("DELETE", "/org/name/resolve/main/x"));
}

TEST_CASE("ranges") {
    CHECK(parse_range("bytes=0-9", 100)->last == 9);
    CHECK(parse_range("bytes=90-", 100)->first == 90);
    CHECK(parse_range("bytes=-10", 100)->first == 90);
    CHECK(parse_range("bytes=50-1000", 100)->last == 99);
    CHECK_FALSE(parse_range("bytes=100-", 100));
    CHECK_FALSE(parse_range("bytes=9-1", 100));
    CHECK_FALSE(parse_range("bytes=99999999999999999999999-", 100));
    CHECK_FALSE(parse_range("items=0-1", 100));
    CHECK_FALSE(parse_range("bytes=-0", 100));
    // An empty file: no range can be met, a multi-range included (it used to
    // give bytes 0-0 of nothing; found by tests/fuzz/fuzz_routes.cpp).
    CHECK_FALSE(parse_range("bytes=0-0,5-9", 0));
    CHECK_FALSE(parse_range("bytes=0-", 0));
    CHECK(parse_range("bytes=0-1,5-6", 100)->last == 99);
}
