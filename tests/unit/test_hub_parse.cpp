#include <catch2/catch.hpp>

#include "hub/hub.hpp"

using namespace llmpt;

TEST_CASE("tree pages parse files, skip folders and validate paths") {
    const std::string sha256(64, 'a'), sha1(40, 'b');
    const std::string body = R"([
      {"type":"directory","path":"sub","oid":")" + sha1 + R"("},
      {"type":"file","path":"sub/w.bin","size":5,"oid":")" + sha1 + R"(","lfs":{"oid":")" + sha256 + R"(","size":5,"pointerSize":130}},
      {"type":"file","path":"config.json","size":2,"oid":")" + sha1 + R"("}])";
    auto files = hub::parse_file_list(body);
    REQUIRE(files);
    REQUIRE(files->size() == 2);
    CHECK((*files)[0].lfs);
    CHECK((*files)[0].etag.str() == sha256);
    CHECK((*files)[1].etag.str() == sha1);
    CHECK((*files)[1].size == 2);
}

TEST_CASE("hostile file lists are rejected") {
    const std::string sha1(40, 'b');
    const auto entry = [&](const std::string& path) {
        return R"([{"type":"file","path":")" + path + R"(","size":1,"oid":")" + sha1 + R"("}])";
    };
    CHECK_FALSE(hub::parse_file_list(entry("../etc/passwd")));
    CHECK_FALSE(hub::parse_file_list(entry("/abs")));
    CHECK_FALSE(hub::parse_file_list(entry("a//b")));
    CHECK_FALSE(hub::parse_file_list(entry("a/./b")));
    CHECK_FALSE(hub::parse_file_list("not json"));
    CHECK_FALSE(hub::parse_file_list(R"({"a":1})"));
    CHECK_FALSE(hub::parse_file_list(R"([{"type":"file","path":"x","size":-1,"oid":"zz"}])"));
    // duplicates
    CHECK_FALSE(hub::parse_file_list(R"([{"type":"file","path":"x","size":1,"oid":")" + sha1 +
                                     R"("},{"type":"file","path":"x","size":1,"oid":")" + sha1 + R"("}])"));
}

TEST_CASE("revision answers need a 40-hex sha") {
    CHECK(hub::parse_revision_answer(R"({"sha":")" + std::string(40, 'c') + R"("})"));
    CHECK_FALSE(hub::parse_revision_answer(R"({"sha":"main"})"));
    CHECK_FALSE(hub::parse_revision_answer("[]"));
}

TEST_CASE("Link headers give the next page") {
    http::Headers h{{"link", "<http://h/api/x?cursor=2>; rel=\"next\""}};
    CHECK(*hub::next_link(h) == "http://h/api/x?cursor=2");
    http::Headers prev{{"link", "<http://h/p>; rel=\"prev\""}};
    CHECK_FALSE(hub::next_link(prev));
}

TEST_CASE("X-Error-Code maps to typed errors") {
    const RepoRef repo{RepoType::model, *RepoId::parse("o/n")};
    CHECK(hub::error_from_response(404, {{"x-error-code", "RepoNotFound"}}, repo, "", false).code == errc::not_found);
    CHECK(hub::error_from_response(404, {{"x-error-code", "RevisionNotFound"}}, repo, "", false).code ==
          errc::not_found);
    const auto gated = hub::error_from_response(401, {{"x-error-code", "GatedRepo"}}, repo, "", false);
    CHECK(gated.code == errc::auth);
    CHECK(gated.message.find("--token") != std::string::npos);
    CHECK(hub::error_from_response(403, {}, repo, "", true).code == errc::auth);
    CHECK(hub::error_from_response(503, {}, repo, "", true).code == errc::network);
}

TEST_CASE("resolve headers give etag and size, LFS from X-Linked-*") {
    const std::string sha256(64, 'd'), sha1(40, 'e');
    auto lfs = hub::parse_file_headers({{"x-linked-etag", "\"" + sha256 + "\""}, {"x-linked-size", "123"},
                                        {"etag", "\"" + sha1 + "\""}, {"content-length", "0"}},
                                       "w.bin");
    REQUIRE(lfs);
    CHECK(lfs->lfs);
    CHECK(lfs->size == 123);
    CHECK(lfs->etag.str() == sha256);
    auto small = hub::parse_file_headers({{"etag", "W/\"" + sha1 + "\""}, {"content-length", "7"}}, "a.txt");
    REQUIRE(small);
    CHECK_FALSE(small->lfs);
    CHECK(small->size == 7);
    CHECK_FALSE(hub::parse_file_headers({{"content-length", "7"}}, "x"));
    CHECK_FALSE(hub::parse_file_headers({{"etag", "\"" + sha1 + "\""}, {"content-length", "7x"}}, "x"));
}
