// endpoint/stream: the body of a GET of a file that is not in the cache yet
// (endpoint/endpoint.hpp): bytes [first, last] of the file as its task's
// FileWatch reports them (endpoint/job.hpp), in order. Every byte sent is
// hashed from the file's first byte on, and the file's last byte is held
// back until the file is placed (verified) and that digest equals the
// etag; a stream that cannot go on ends early (the client sees a cut
// connection). A stream with nothing to send parks; the Pump wakes it.
#pragma once

#include "endpoint/job.hpp"
#include "server/http_server.hpp"

#include <llmpt/repo.hpp>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace llmpt::endpoint {

// Something parked on the Pump.
class Parked {
public:
    virtual ~Parked() = default;
    // Try again; false once it is over (it leaves the Pump).
    virtual bool poke() = 0;
};

// Wakes parked streams when a task reports something, and every
// kInterval in any case (a file placed by a task we joined without a
// watch shows up as a blob in the cache). One thread.
class Pump {
public:
    static constexpr auto kInterval = std::chrono::milliseconds(250);
    Pump();
    ~Pump();
    void stop(); // idempotent
    void park(const std::shared_ptr<Parked>& p);
    void wake();

private:
    void loop();
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false, woken_ = false;
    std::vector<std::weak_ptr<Parked>> parked_;
    std::thread thread_;
};

struct StreamSpec {
    std::string path;            // repo-relative
    std::filesystem::path blob;  // where the verified file ends up
    Etag etag;
    std::uint64_t size = 0, first = 0, last = 0;
};

// `on_mismatch`: the stream was cut because what it sent did not hash to
// the etag (the file's bytes changed under it).
std::shared_ptr<server::BodyStream> file_stream(StreamSpec spec, std::shared_ptr<Job> job, std::shared_ptr<Pump> pump,
                                                std::function<void(const Etag&)> on_mismatch);

} // namespace llmpt::endpoint
