// TrackerServer: the Service (tracker/server/service.hpp) behind the shared
// HTTP server, and the ticker that expires silent peers.
#include <llmpt/tracker_server.hpp>

#include "server/http_server.hpp"
#include "tracker/server/service.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace llmpt {

namespace {

class TrackerServerImpl final : public TrackerServer {
public:
    TrackerServerImpl(std::unique_ptr<tracker::Service> service, std::chrono::seconds period,
                      std::function<void(const std::string&)> log)
        : service_(std::move(service)), period_(period), log_(std::move(log)) {}
    ~TrackerServerImpl() override { stop({}); }

    Status listen(const TrackerServerOptions& o) {
        server::Options so;
        so.host = o.host;
        so.port = o.port;
        so.threads = o.threads;
        so.header_limit = 8 * 1024;
        so.body_limit = 24u << 20; // base64 of the 16 MiB torrent limit
        so.idle_timeout = std::chrono::seconds(10);
        so.max_connections = 8192;
        if (log_ && o.log_requests)
            so.log = [this](const std::string& line) {
                if (line.find(" /announce?") == std::string::npos) log_(util::utc_timestamp() + " http " + line);
            };
        auto* svc = service_.get();
        auto http = server::HttpServer::start(so, [svc](const server::Request& r) { return svc->handle(r); });
        if (!http) return http.error();
        http_ = std::move(*http);
        ticker_ = std::thread([this] { tick_loop(); });
        return ok();
    }

    std::uint16_t port() const override { return http_ ? http_->port() : 0; }

    void stop(const std::string& why) override {
        {
            std::lock_guard lk(mu_);
            if (stopping_) return;
            stopping_ = true;
        }
        if (log_ && !why.empty()) log_(util::utc_timestamp() + " " + why);
        cv_.notify_all();
        if (ticker_.joinable()) ticker_.join();
        if (http_) http_->stop();
    }

private:
    // Expires peers and logs a summary line every half interval (at most 60 s).
    void tick_loop() {
        std::unique_lock lk(mu_);
        while (!cv_.wait_for(lk, period_, [&] { return stopping_; })) {
            lk.unlock();
            service_->tick();
            lk.lock();
        }
    }

    std::unique_ptr<tracker::Service> service_;
    std::unique_ptr<server::HttpServer> http_;
    std::chrono::seconds period_;
    std::function<void(const std::string&)> log_;
    std::thread ticker_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
};

} // namespace

Result<std::unique_ptr<TrackerServer>> TrackerServer::start(TrackerServerOptions o) {
    tracker::ServiceOptions so;
    so.db_path = o.db_path;
    so.publish_tokens = o.publish_tokens;
    so.announce_interval = o.announce_interval;
    so.min_interval = std::chrono::seconds(std::max<long>(5, o.announce_interval.count() / 10));
    so.announce_rate = o.announce_rate;
    so.announce_burst = o.announce_burst > 0 ? o.announce_burst : std::max(1.0, o.announce_rate * 60);
    so.publish_rate = o.publish_rate;
    so.publish_burst = std::max(1.0, o.publish_rate * 40);
    so.trust_proxy = o.trust_proxy;
    so.hub_endpoint = o.hub_endpoint;
    so.cohort.lease = o.cohort_lease;
    so.log_events = o.log_requests;
    if (o.log) so.log = [log = o.log](const std::string& line) { log(util::utc_timestamp() + " " + line); };
    auto service = tracker::Service::open(so);
    if (!service) return service.error();
    const auto period = std::chrono::seconds(std::clamp<long>(o.announce_interval.count() / 2, 5, 60));
    auto impl = std::make_unique<TrackerServerImpl>(std::move(*service), period, o.log);
    if (auto st = impl->listen(o); !st) return st.error();
    return std::unique_ptr<TrackerServer>(std::move(impl));
}

} // namespace llmpt
