// The daemon's task request (POST /v1/tasks) and the JSON forms of events
// and results that the CLI and the daemon exchange.
#include <llmpt/daemon.hpp>
#include <llmpt/download.hpp>
#include <llmpt/events.hpp>

#include <catch2/catch.hpp>

using llmpt::daemon::TaskRequest;

TEST_CASE("a task request survives its JSON form") {
    TaskRequest r;
    r.repo = "org/m";
    r.repo_type = llmpt::RepoType::dataset;
    r.revision = "v1";
    r.files = {"a.txt"};
    r.include = {"*.json"};
    r.exclude = {"x/"};
    r.cache_dir = "/c";
    r.token = "secret";
    r.no_p2p = true;
    r.p2p_timeout = 30;
    r.chunk_size = 64;
    auto back = TaskRequest::parse(r.to_json());
    REQUIRE(back);
    CHECK(back->to_json() == r.to_json());
    CHECK(back->repo_type == llmpt::RepoType::dataset);
}

TEST_CASE("a task request names what is wrong with it") {
    const auto error = [](const char* body) {
        auto r = TaskRequest::parse(body);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == llmpt::errc::usage);
        return r.error().message;
    };
    CHECK(error("{") == "the body is not JSON");
    CHECK(error("[]") == "the body must be a JSON object");
    CHECK(error("{}") == "repo: required");
    CHECK(error(R"({"repo": 1})") == "repo: must be a string");
    CHECK(error(R"({"repo": "org/m", "files": ["a", 2]})") == "files: must be an array of strings");
    CHECK(error(R"({"repo": "org/m", "no_p2p": "yes"})") == "no_p2p: must be true or false");
    CHECK(error(R"({"repo": "org/m", "connections": 65})") == "connections: must be a whole number from 0 to 64");
    CHECK(error(R"({"repo": "org/m", "p2p_timeout": 1.5})").starts_with("p2p_timeout:"));
    CHECK(error(R"({"repo": "org/m", "repo_type": "bucket"})") == "repo_type: must be model, dataset or space");
    CHECK(error(R"({"repo": "org/m", "extra": 1})") == "extra: unknown field");
    CHECK(error(R"({"repo": "a/../b"})").starts_with("repo:"));
}

TEST_CASE("a task request applies on top of the daemon's settings") {
    auto r = TaskRequest::parse(R"({"repo": "org/m", "endpoint": "http://h/", "no_webseed": true, "connections": 3})");
    REQUIRE(r);
    llmpt::Settings s;
    s.tracker = "http://t";
    llmpt::DownloadRequest d;
    REQUIRE(r->apply(s, d));
    CHECK(s.endpoint == "http://h");
    CHECK(s.tracker == "http://t"); // unset fields keep the daemon's
    CHECK_FALSE(s.webseed);
    CHECK(s.http_connections == 3);
    CHECK(d.repo == "org/m");
    CHECK(d.revision == "main");
}

TEST_CASE("events and results round-trip through JSON") {
    const auto commit = *llmpt::CommitId::parse("0123456789abcdef0123456789abcdef01234567");
    const llmpt::Event plan = llmpt::PlanEvent{commit, 3, 1, 100, 10};
    auto back = llmpt::event_from_json(llmpt::to_json(plan));
    REQUIRE(back);
    const auto& p = std::get<llmpt::PlanEvent>(*back);
    CHECK((p.commit == commit && p.files_total == 3 && p.files_cached == 1 && p.bytes_total == 100 &&
           p.bytes_cached == 10));
    const llmpt::Event file = llmpt::FileReadyEvent{"a/b.bin", "/c/a/b.bin", 7};
    back = llmpt::event_from_json(llmpt::to_json(file));
    REQUIRE(back);
    CHECK(std::get<llmpt::FileReadyEvent>(*back).local_path == "/c/a/b.bin");
    CHECK_FALSE(llmpt::event_from_json(R"({"event": "plan", "files": "many"})"));
    CHECK_FALSE(llmpt::event_from_json(R"({"event": "plan", "commit": "abc", "files": 3})")); // not a commit
    CHECK_FALSE(llmpt::event_from_json(R"({"event": "other"})"));
    CHECK_FALSE(llmpt::event_from_json("nope"));

    llmpt::DownloadResult r;
    r.repo = "org/m";
    r.path = "/c/snap";
    r.bytes_total = 5;
    r.bytes_p2p = 3;
    r.bytes_http = 2;
    const auto rr = llmpt::result_from_json(llmpt::to_json(r));
    REQUIRE(rr);
    CHECK((rr->path == "/c/snap" && rr->bytes_p2p == 3 && rr->bytes_http == 2 && rr->bytes_total == 5));
    CHECK_FALSE(rr->commit); // a local dir answered offline does not know its commit
    r.commit = commit;
    CHECK(llmpt::result_from_json(llmpt::to_json(r))->commit == commit);
    CHECK_FALSE(llmpt::result_from_json(R"({"repo": "org/m", "commit": "main"})")); // not a commit
}

TEST_CASE("task states have the API's names, and only three are final") {
    using llmpt::daemon::TaskState;
    for (const auto s : {TaskState::queued, TaskState::running, TaskState::done, TaskState::failed,
                         TaskState::cancelled})
        CHECK(llmpt::daemon::parse_task_state(llmpt::daemon::to_string(s)) == s);
    CHECK(llmpt::daemon::to_string(TaskState::cancelled) == "cancelled");
    CHECK_FALSE(llmpt::daemon::parse_task_state("Done"));
    CHECK_FALSE(llmpt::daemon::parse_task_state("state")); // the stream's first event is not a state
    CHECK(llmpt::daemon::is_final(TaskState::done));
    CHECK(llmpt::daemon::is_final(TaskState::failed));
    CHECK(llmpt::daemon::is_final(TaskState::cancelled));
    CHECK_FALSE(llmpt::daemon::is_final(TaskState::queued));
    CHECK_FALSE(llmpt::daemon::is_final(TaskState::running));
}
