// The daemon's task queue with a fake download: how it stops.
#include "daemon/tasks.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

using namespace llmpt;
namespace fs = std::filesystem;
using test::TempDir;

namespace {

daemon::Tasks::Config config(const TempDir& dir, std::vector<std::string>& log, std::mutex& log_mu) {
    daemon::Tasks::Config c;
    c.caches = {dir.path / "cache"};
    c.base.cache_dir = c.caches.front();
    c.state_file = dir.path / "tasks.json";
    c.stop_grace = std::chrono::milliseconds(300);
    c.log = [&](const std::string& line) {
        std::lock_guard lk(log_mu);
        log.push_back(line);
    };
    return c;
}

void wait_until(const std::atomic<bool>& flag) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!flag && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(flag);
}

} // namespace

TEST_CASE("stopping cancels running tasks and waits for them") {
    TempDir dir;
    std::vector<std::string> log;
    std::mutex log_mu;
    auto c = config(dir, log, log_mu);
    std::atomic<bool> started{false}, saw_cancel{false};
    bool stuck_called = false;
    c.download = [&](const Settings&, const DownloadRequest& req, const EventHandler&) -> Result<DownloadResult> {
        started = true;
        while (!req.cancel->load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        saw_cancel = true;
        return Error(errc::interrupted, "interrupted");
    };
    c.on_stuck = [&](std::size_t) { stuck_called = true; };
    {
        daemon::Tasks tasks(c);
        daemon::TaskRequest r;
        r.repo = "org/m";
        REQUIRE(tasks.submit(r));
        wait_until(started);
    }
    CHECK(saw_cancel);
    CHECK_FALSE(stuck_called);
}

TEST_CASE("a task that ignores cancellation is reported after the grace, not waited for in silence") {
    TempDir dir;
    std::vector<std::string> log;
    std::mutex log_mu;
    auto c = config(dir, log, log_mu);
    std::atomic<bool> started{false}, release{false};
    c.download = [&](const Settings&, const DownloadRequest&, const EventHandler&) -> Result<DownloadResult> {
        started = true;
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5)); // deaf to cancel
        return Error(errc::interrupted, "interrupted");
    };
    std::size_t stuck = 0;
    std::string id;
    c.on_stuck = [&](std::size_t n) {
        stuck = n;
        release = true; // the daemon ends the process here; the test lets the task go instead
    };
    const auto t0 = std::chrono::steady_clock::now();
    {
        daemon::Tasks tasks(c);
        daemon::TaskRequest r;
        r.repo = "org/m";
        auto sub = tasks.submit(r);
        REQUIRE(sub);
        id = sub->id;
        wait_until(started);
    }
    CHECK(stuck == 1);
    CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(300)); // the grace was given
    std::lock_guard lk(log_mu);
    bool named = false;
    for (const auto& line : log)
        named = named || (line.find("did not stop within 300 ms") != std::string::npos &&
                          line.find(id) != std::string::npos);
    CHECK(named);
}

namespace {

struct RecordingWatch final : FileWatch {
    std::mutex mu;
    std::vector<std::string> seen;
    void progress(const std::string& path, const fs::path&, std::uint64_t prefix) override {
        std::lock_guard lk(mu);
        seen.push_back("progress " + path + " " + std::to_string(prefix));
    }
    void placed(const std::string& path, const fs::path&) override {
        std::lock_guard lk(mu);
        seen.push_back("placed " + path);
    }
    void ended(bool ok) override {
        std::lock_guard lk(mu);
        seen.push_back(ok ? "ended ok" : "ended failed");
    }
};

} // namespace

TEST_CASE("every watch of a task is told its files, and its end once") {
    TempDir dir;
    std::vector<std::string> log;
    std::mutex log_mu;
    auto c = config(dir, log, log_mu);
    std::atomic<bool> started{false}, go{false};
    c.download = [&](const Settings&, const DownloadRequest& req, const EventHandler&) -> Result<DownloadResult> {
        started = true;
        wait_until(go);
        REQUIRE(req.watch);
        req.watch->progress("model.safetensors", "/tmp/x", 10);
        req.watch->placed("model.safetensors", "/cache/x");
        req.watch->ended(true); // as llmpt::download does; the task tells it again
        return DownloadResult{};
    };
    auto first = std::make_shared<RecordingWatch>();
    auto second = std::make_shared<RecordingWatch>();
    {
        daemon::Tasks tasks(c);
        daemon::TaskRequest r;
        r.repo = "org/m";
        const auto a = tasks.submit(r, first);
        REQUIRE(a);
        wait_until(started);
        const auto b = tasks.submit(r, second); // joins the running task
        REQUIRE(b);
        CHECK(b->existing);
        CHECK(b->id == a->id);
        go = true;
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (tasks.active() > 0 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const std::vector<std::string> want = {"progress model.safetensors 10", "placed model.safetensors", "ended ok"};
    CHECK(first->seen == want);
    CHECK(second->seen == want);
}

TEST_CASE("a watch of a task cancelled while queued is told it ended") {
    TempDir dir;
    std::vector<std::string> log;
    std::mutex log_mu;
    auto c = config(dir, log, log_mu);
    c.max_running = 1;
    std::atomic<bool> started{false}, release{false};
    c.download = [&](const Settings&, const DownloadRequest& req, const EventHandler&) -> Result<DownloadResult> {
        started = true;
        while (!release && !req.cancel->load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return DownloadResult{};
    };
    auto watch = std::make_shared<RecordingWatch>();
    {
        daemon::Tasks tasks(c);
        daemon::TaskRequest busy;
        busy.repo = "org/busy";
        REQUIRE(tasks.submit(busy));
        wait_until(started);
        daemon::TaskRequest queued;
        queued.repo = "org/m";
        const auto q = tasks.submit(queued, watch);
        REQUIRE(q);
        REQUIRE(tasks.cancel(q->id));
        release = true;
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (tasks.active() > 0 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(watch->seen == std::vector<std::string>{"ended failed"});
}
