#include <catch2/catch.hpp>

#include "util/hash.hpp"
#include "util/url.hpp"

using namespace llmpt;

TEST_CASE("sha256 and git blob sha1 match the reference values") {
    CHECK(util::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // `printf 'hello\n' | git hash-object --stdin`
    CHECK(util::git_blob_sha1_hex("hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a");
    CHECK(util::git_blob_sha1_hex("") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

TEST_CASE("incremental hashing equals one-shot hashing") {
    auto h = util::hasher_for(Etag::Kind::git_sha1, 6);
    h.update("hel");
    h.update("lo\n");
    CHECK(h.hex_digest() == util::git_blob_sha1_hex("hello\n"));
}

TEST_CASE("url encoding round-trips and rejects bad escapes") {
    CHECK(util::url_encode("refs/pr/1") == "refs%2Fpr%2F1");
    CHECK(util::url_encode_path("a b/c.txt") == "a%20b/c.txt");
    CHECK(*util::url_decode("refs%2Fpr%2F1") == "refs/pr/1");
    CHECK(*util::url_decode("%2e%2E") == "..");
    CHECK_FALSE(util::url_decode("%zz"));
    CHECK_FALSE(util::url_decode("abc%2"));
}
