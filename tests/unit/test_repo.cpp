#include <catch2/catch.hpp>

#include <llmpt/repo.hpp>

using namespace llmpt;

TEST_CASE("repo ids are validated") {
    CHECK(RepoId::parse("gpt2"));
    CHECK(RepoId::parse("org/name-1.5_b"));
    CHECK_FALSE(RepoId::parse(""));
    CHECK_FALSE(RepoId::parse("a/b/c"));
    CHECK_FALSE(RepoId::parse("../x"));
    CHECK_FALSE(RepoId::parse("org/.."));
    CHECK_FALSE(RepoId::parse("org/na me"));
    CHECK_FALSE(RepoId::parse("org--x/name"));
    CHECK(RepoId::parse("bad/../x").error().code == errc::usage);
}

TEST_CASE("repo folder names follow huggingface_hub") {
    CHECK(RepoRef{RepoType::model, *RepoId::parse("org/name")}.folder_name() == "models--org--name");
    CHECK(RepoRef{RepoType::dataset, *RepoId::parse("squad")}.folder_name() == "datasets--squad");
    CHECK(RepoRef{RepoType::space, *RepoId::parse("a/b")}.api_path() == "spaces/a/b");
}

TEST_CASE("etags strip quotes and W/ and know their kind") {
    const std::string sha1(40, 'a'), sha256(64, 'B');
    auto e = Etag::parse("W/\"" + sha1 + "\"");
    REQUIRE(e);
    CHECK(e->str() == sha1);
    CHECK(e->kind() == Etag::Kind::git_sha1);
    auto f = Etag::parse("\"" + sha256 + "\"");
    REQUIRE(f);
    CHECK(f->str() == std::string(64, 'b'));
    CHECK(f->kind() == Etag::Kind::sha256);
    CHECK_FALSE(Etag::parse("xyz"));
    CHECK_FALSE(Etag::parse(std::string(41, 'a')));
}

TEST_CASE("commit ids are 40 hex") {
    CHECK(CommitId::parse(std::string(40, 'F'))->str() == std::string(40, 'f'));
    CHECK_FALSE(CommitId::parse("main"));
}

TEST_CASE("info hashes: a 64-hex v2 hash, a 40-hex v1 one for hybrids, the announce key from v2") {
    const std::string v2 = std::string(40, 'A') + std::string(24, 'b');
    const auto h = InfoHash::parse(v2);
    REQUIRE(h);
    CHECK(h->v2() == std::string(40, 'a') + std::string(24, 'b'));
    CHECK_FALSE(h->hybrid());
    CHECK(h->announce_key() == std::string(40, 'a'));
    const auto hybrid = InfoHash::parse(v2, std::string(40, 'C'));
    REQUIRE(hybrid);
    CHECK(hybrid->v1() == std::string(40, 'c'));
    CHECK_FALSE(*hybrid == *h);
    CHECK_FALSE(InfoHash::parse(std::string(40, 'a')));           // a v1 hash is not a v2 one
    CHECK_FALSE(InfoHash::parse(v2, std::string(64, 'c')));       // nor the other way round
    CHECK_FALSE(InfoHash::parse(std::string(63, 'a') + "g"));
}

TEST_CASE("errors format with context and map to exit codes") {
    Error e(errc::disk, "no space", "/x");
    CHECK(e.what() == "no space (/x)");
    CHECK(e.exit_code() == 7);
    std::error_code ec = errc::integrity;
    CHECK(ec.value() == 6);
    CHECK(ec.category().name() == std::string("llmpt"));
}
