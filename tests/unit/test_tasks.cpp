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
