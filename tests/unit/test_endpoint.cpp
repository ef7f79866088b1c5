// The HF endpoint's decisions: which files a task fetches, which of the
// Hub's headers a client gets, when a cached answer stands in for the Hub,
// how a snapshot's tasks follow each other.
#include "endpoint/job.hpp"
#include "endpoint/meta_cache.hpp"
#include "endpoint/policy.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

using namespace llmpt;
using namespace llmpt::endpoint;
using std::chrono::seconds;

TEST_CASE("a commit is pinned, a branch or tag is not") {
    CHECK(pinned_revision("0123456789abcdef0123456789abcdef01234567"));
    CHECK_FALSE(pinned_revision("main"));
    CHECK_FALSE(pinned_revision("0123456789ABCDEF0123456789abcdef01234567"));
    CHECK_FALSE(pinned_revision("0123456789abcdef0123456789abcdef0123456"));
    CHECK_FALSE(pinned_revision("refs/pr/1"));
}

TEST_CASE("a cached answer: a commit's before asking, a branch's only while young and the Hub is down") {
    const seconds ttl(600);
    CHECK(cache_use(true, seconds(0), ttl) == CacheUse::first);
    CHECK(cache_use(true, seconds(86400 * 365), ttl) == CacheUse::first);
    CHECK(cache_use(false, seconds(5), ttl) == CacheUse::if_upstream_down);
    CHECK(cache_use(false, seconds(600), ttl) == CacheUse::no);
    CHECK(cache_use(false, seconds(-5), ttl) == CacheUse::no); // stored in the future: the clock moved
}

TEST_CASE("a task takes the snapshot but for weights in formats nobody asked for") {
    const auto small = selection_for("config.json");
    CHECK(small.covers("config.json"));
    CHECK(small.covers("tokenizer.json"));
    CHECK(small.covers("sub/vocab.txt"));
    CHECK_FALSE(small.covers("model.safetensors"));
    CHECK_FALSE(small.covers("sub/model-00001-of-00002.safetensors"));
    CHECK_FALSE(small.covers("pytorch_model.bin"));
    CHECK_FALSE(small.covers("onnx/model.onnx"));
    CHECK_FALSE(small.covers("model-q4.gguf"));

    const auto st = selection_for("model-00001-of-00002.safetensors");
    CHECK(st.covers("model-00002-of-00002.safetensors"));
    CHECK(st.covers("model.safetensors.index.json"));
    CHECK(st.covers("config.json"));
    CHECK_FALSE(st.covers("pytorch_model.bin"));
    CHECK_FALSE(st.covers("model-q4.gguf"));

    const auto bin = selection_for("pytorch_model.bin");
    CHECK(bin.covers("pytorch_model.bin"));
    CHECK_FALSE(bin.covers("model.safetensors"));
}

TEST_CASE("with the snapshot's list known, a file that is no weight takes the weights too") {
    const std::set<std::string> one{".safetensors"};
    const auto s = selection_for("config.json", one);
    CHECK(s.covers("config.json"));
    CHECK(s.covers("model-00001-of-00002.safetensors"));
    CHECK_FALSE(s.covers("model-q4.gguf"));
    // Several formats: .safetensors, as transformers picks.
    const auto several = selection_for("config.json", std::set<std::string>{".bin", ".onnx", ".safetensors"});
    CHECK(several.covers("model.safetensors"));
    CHECK_FALSE(several.covers("pytorch_model.bin"));
    CHECK_FALSE(several.covers("onnx/model.onnx"));
    // One other format: that one.
    CHECK(selection_for("config.json", std::set<std::string>{".bin"}).covers("pytorch_model.bin"));
    // No weights at all (a tokenizer repo), or several without .safetensors:
    // as without a list.
    CHECK(selection_for("config.json", std::set<std::string>{}) == selection_for("config.json"));
    CHECK(selection_for("config.json", std::set<std::string>{".bin", ".h5"}) == selection_for("config.json"));
    // A weight asked for decides for itself.
    CHECK(selection_for("pytorch_model.bin", one) == selection_for("pytorch_model.bin"));
    CHECK(selection_for("a.gguf", one).files == std::vector<std::string>{"a.gguf"});

    CHECK(weight_formats({"config.json", "a/model.safetensors", "b.safetensors", "x.bin", "q.gguf"}) ==
          std::set<std::string>{".bin", ".safetensors"});
}

TEST_CASE("the file list of a /revision/ or a whole recursive /tree/ answer") {
    CHECK(listed_paths(true, R"({"sha":"x","siblings":[{"rfilename":"a.json"},{"rfilename":"m/b.bin"}]})") ==
          std::vector<std::string>{"a.json", "m/b.bin"});
    CHECK_FALSE(listed_paths(true, R"({"id":"org/m","sha":"x"})")); // expand=sha: no siblings
    CHECK_FALSE(listed_paths(true, R"({"siblings":[{"name":"a"}]})"));
    CHECK_FALSE(listed_paths(true, "not json"));
    CHECK(listed_paths(false, R"([{"type":"directory","path":"m"},{"type":"file","path":"m/b.bin","size":3}])") ==
          std::vector<std::string>{"m/b.bin"});
    CHECK_FALSE(listed_paths(false, R"({"error":"x"})"));

    CHECK(whole_tree("/api/models/o/m/tree/c?recursive=true&expand=false", {}));
    CHECK(whole_tree("/api/models/o/m/tree/c?expand=1&recursive=1", {}));
    CHECK_FALSE(whole_tree("/api/models/o/m/tree/c", {}));
    CHECK_FALSE(whole_tree("/api/models/o/m/tree/c?recursive=false", {}));
    CHECK_FALSE(whole_tree("/api/models/o/m/tree/c?recursive=true&cursor=abc", {}));
    CHECK_FALSE(whole_tree("/api/models/o/m/tree/c?recursive=true", {{"link", "<http://h/next>; rel=\"next\""}}));
}

TEST_CASE("a .gguf file is one quantisation of many: its task takes it alone") {
    const auto g = selection_for("q4/model-Q4_K_M.gguf");
    CHECK(g.files == std::vector<std::string>{"q4/model-Q4_K_M.gguf"});
    CHECK(g.covers("q4/model-Q4_K_M.gguf"));
    CHECK_FALSE(g.covers("q4/model-Q8_0.gguf"));
    CHECK_FALSE(g.covers("config.json"));
}

TEST_CASE("a file's metadata from the Hub's redirect to its CDN") {
    const std::map<std::string, std::string> h = {
        {"x-repo-commit", "0123456789abcdef0123456789abcdef01234567"},
        {"etag", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""},
        {"x-linked-etag", "\"" + std::string(64, 'b') + "\""},
        {"x-linked-size", "123456789"},
        {"content-length", "1093"}, // the redirect's own body
        {"location", "https://cdn.example/x"},
        {"x-xet-hash", "ccc"}};
    const auto m = file_meta(h);
    CHECK(m.commit == "0123456789abcdef0123456789abcdef01234567");
    REQUIRE(m.etag);
    CHECK(m.etag->str() == std::string(64, 'b'));
    CHECK(m.size == std::optional<std::uint64_t>(123456789));
    // As the Hub sent them, nothing else (no Location, no Xet).
    REQUIRE(m.headers.size() == 4);
    CHECK(m.headers[0] == std::pair<std::string, std::string>{"X-Repo-Commit", h.at("x-repo-commit")});
    CHECK(m.headers[1] == std::pair<std::string, std::string>{"ETag", h.at("etag")});
    CHECK(m.headers[2] == std::pair<std::string, std::string>{"X-Linked-Etag", h.at("x-linked-etag")});
    CHECK(m.headers[3] == std::pair<std::string, std::string>{"X-Linked-Size", "123456789"});
}

TEST_CASE("a small file's metadata: the git blob id and the body's length") {
    const auto m = file_meta({{"x-repo-commit", "0123456789abcdef0123456789abcdef01234567"},
                              {"etag", "W/\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""},
                              {"content-length", "10"}});
    REQUIRE(m.etag);
    CHECK(m.etag->kind() == Etag::Kind::git_sha1);
    CHECK(m.size == std::optional<std::uint64_t>(10));
    CHECK_FALSE(file_meta({{"etag", "\"x\""}, {"content-length", "-1"}}).etag);
    CHECK_FALSE(file_meta({{"content-length", "12a"}}).size);
}

TEST_CASE("a listed file's answer while the Hub is down reads back as the Hub's") {
    const auto commit = *CommitId::parse("0123456789abcdef0123456789abcdef01234567");
    const auto lfs = *Etag::parse(std::string(64, 'e'));
    auto m = file_meta(listed_file_headers(commit, lfs, 123456789012));
    CHECK(m.commit == commit.str());
    CHECK(m.etag == lfs);
    CHECK(m.size == std::optional<std::uint64_t>(123456789012));
    std::map<std::string, std::string> got(m.headers.begin(), m.headers.end());
    CHECK(got["X-Linked-Etag"] == "\"" + lfs.str() + "\"");
    CHECK(got["X-Linked-Size"] == "123456789012");

    const auto blob = *Etag::parse(std::string(40, 'a'));
    m = file_meta(listed_file_headers(commit, blob, 10));
    CHECK(m.etag == blob);
    CHECK(m.size == std::optional<std::uint64_t>(10));
    CHECK(m.headers.size() == 2); // X-Repo-Commit, ETag: a git blob has no X-Linked-*

    const auto rev = nlohmann::json::parse(listed_revision_body("org/m", commit, {"a.txt", "sub/b.bin"}));
    CHECK(rev["id"] == "org/m");
    CHECK(rev["sha"] == commit.str());
    REQUIRE(rev["siblings"].size() == 2);
    CHECK(rev["siblings"][1]["rfilename"] == "sub/b.bin");
}

TEST_CASE("passed headers: pagination points at us, Xet never reaches the client") {
    const auto out = passed_headers({{"content-type", "application/json"},
                                     {"link", "<http://hub:1/api/models/a/b/tree/main?cursor=x>; rel=\"next\""},
                                     {"x-xet-hash", "abc"},
                                     {"set-cookie", "a=b"},
                                     {"x-error-code", "GatedRepo"}},
                                    "http://hub:1", "http://127.0.0.1:9");
    std::map<std::string, std::string> got(out.begin(), out.end());
    CHECK(got.size() == 3);
    CHECK(got["Link"] == "<http://127.0.0.1:9/api/models/a/b/tree/main?cursor=x>; rel=\"next\"");
    CHECK(got["Content-Type"] == "application/json");
    CHECK(got["X-Error-Code"] == "GatedRepo");
    const auto xet = passed_headers({{"link", "<https://hub/api/xet>; rel=\"xet-auth\""}}, "https://hub", "x");
    CHECK(xet.empty());
}

TEST_CASE("the metadata cache keeps answers by request and token, and drops what it cannot read") {
    test::TempDir dir;
    const MetaCache cache(dir.path / "hub-cache", 64);
    const auto key = MetaCache::key("GET", "/api/models/a/b/revision/main", "", "Bearer t1");
    CHECK(key != MetaCache::key("GET", "/api/models/a/b/revision/main", "", "Bearer t2"));
    CHECK(key != MetaCache::key("POST", "/api/models/a/b/revision/main", "", "Bearer t1"));
    CHECK_FALSE(cache.get(key));

    MetaCache::Entry e;
    e.status = 200;
    e.headers = {{"content-type", "application/json"}, {"x-repo-commit", "c"}};
    e.body = std::string("{\"sha\":\"c\"}\0\xff", 13);
    e.stored = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    cache.put(key, e);
    const auto back = cache.get(key);
    REQUIRE(back);
    CHECK(back->status == 200);
    CHECK(back->headers == e.headers);
    CHECK(back->body == e.body);
    CHECK(back->stored == e.stored);

    e.body = std::string(65, 'x'); // over the bound: not kept
    const auto big = MetaCache::key("GET", "/big", "", "");
    cache.put(big, e);
    CHECK_FALSE(cache.get(big));

    std::ofstream(dir.path / "hub-cache" / (key + ".json")) << "{\"status\": 200, \"hea";
    CHECK_FALSE(cache.get(key));
}

TEST_CASE("the metadata cache stays within its bound: the least recently used answers go first") {
    test::TempDir dir;
    const auto folder = dir.path / "hub-cache";
    MetaCache::Entry e;
    e.body = std::string(100, 'x');
    const auto key = [](const char* name) { return MetaCache::key("GET", name, "", ""); };
    std::uint64_t one = 0;
    {
        const MetaCache probe(folder);
        probe.put(key("/probe"), e);
        one = std::filesystem::file_size(folder / (key("/probe") + ".json"));
        std::filesystem::remove(folder / (key("/probe") + ".json"));
    }
    const MetaCache cache(folder, 1024, one * 7 / 2); // room for three and a half
    const auto now = std::filesystem::file_time_type::clock::now();
    int age = 4;
    for (const char* name : {"/a", "/b", "/c"}) {
        cache.put(key(name), e);
        std::filesystem::last_write_time(folder / (key(name) + ".json"), now - std::chrono::hours(age--));
    }
    REQUIRE(cache.get(key("/a"))); // /a used now: /b is the least recently used
    cache.put(key("/d"), e);       // a fourth does not fit
    CHECK_FALSE(cache.get(key("/b")));
    CHECK(cache.get(key("/a")));
    CHECK(cache.get(key("/c")));
    CHECK(cache.get(key("/d")));

    // A cache opened on a folder over its bound trims it at its first put.
    for (const char* name : {"/a", "/c", "/d"})
        std::filesystem::last_write_time(folder / (key(name) + ".json"), now - std::chrono::hours(1));
    const MetaCache smaller(folder, 1024, one * 3 / 2);
    smaller.put(key("/e"), e);
    int left = 0;
    for (const auto& f : std::filesystem::directory_iterator(folder)) left += f.path().extension() == ".json";
    CHECK(left == 1);
    CHECK(smaller.get(key("/e")));
}

namespace {

// A job whose tasks are recorded, not run.
struct FakeTasks {
    std::vector<std::pair<std::size_t, Selection>> started;
    std::vector<std::set<std::string>> finished;
    bool refuse = false;
    std::shared_ptr<Job> job() {
        return std::make_shared<Job>(
            [this](const std::shared_ptr<Job>&, std::size_t slot, const Selection& sel) {
                if (refuse) return false;
                started.emplace_back(slot, sel);
                return true;
            },
            [this](const std::set<std::string>& refs) { finished.push_back(refs); });
    }
};

} // namespace

TEST_CASE("one task of a snapshot at a time: the next starts when the running one ends") {
    FakeTasks t;
    auto job = t.job();
    REQUIRE(job->cover("config.json", "main"));
    REQUIRE(job->cover("tokenizer.json", "main")); // covered: no second task
    REQUIRE(t.started.size() == 1);
    CHECK(job->source("tokenizer.json").alive);

    REQUIRE(job->cover("model.safetensors", "main")); // not covered: waits
    CHECK(t.started.size() == 1);
    CHECK(job->source("model.safetensors").alive); // a stream waits for it
    job->slot_ended(0, true);
    REQUIRE(t.started.size() == 2);
    CHECK(t.started[1].second.covers("model.safetensors"));
    // The branch is written once a task ended well.
    REQUIRE(t.finished.size() == 1);
    CHECK(t.finished[0] == std::set<std::string>{"main"});
    CHECK_FALSE(job->idle());
    job->slot_ended(1, false);
    CHECK(job->idle());
    CHECK_FALSE(job->source("model.safetensors").alive); // a stream still waiting is cut
}

TEST_CASE("a snapshot whose list a client fetched first is one task") {
    FakeTasks t;
    auto job = t.job();
    job->note_listing({"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"});
    CHECK_FALSE(job->idle()); // it remembers the list for the first ask
    REQUIRE(job->cover("config.json", "main"));
    REQUIRE(job->cover("model-00002-of-00002.safetensors", "main"));
    CHECK(t.started.size() == 1);
}

TEST_CASE("a job reports where a file's bytes are, and the verified file once placed") {
    FakeTasks t;
    auto job = t.job();
    REQUIRE(job->cover("model.safetensors", "0123456789abcdef0123456789abcdef01234567"));
    CHECK(job->source("model.safetensors").file.empty());
    job->progress("model.safetensors", "/staging/model.safetensors", 4096);
    auto s = job->source("model.safetensors");
    CHECK((s.file == "/staging/model.safetensors" && s.prefix == 4096 && !s.placed));
    job->placed("model.safetensors", "/cache/snapshots/c/model.safetensors");
    s = job->source("model.safetensors");
    CHECK((s.file == "/cache/snapshots/c/model.safetensors" && s.placed));
    job->slot_ended(0, true);
    CHECK(t.finished.empty()); // asked by commit: no ref to write
}

TEST_CASE("a task that cannot start fails the request, and a later ask tries again") {
    FakeTasks t;
    auto job = t.job();
    t.refuse = true;
    CHECK_FALSE(job->cover("config.json", "main"));
    CHECK_FALSE(job->source("config.json").alive);
    t.refuse = false;
    CHECK(job->cover("config.json", "main"));
    CHECK(t.started.size() == 1);
}
