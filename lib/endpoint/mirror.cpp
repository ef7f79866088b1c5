// `llmpt serve --upstream URL`: the HF endpoint (endpoint/endpoint.hpp) for a
// machine without a daemon, e.g. a LAN mirror. Its downloads run as tasks in
// a session of its own; what they bring into the cache is served from then
// on (and seeded by a daemon, if one serves the same cache).
#include "endpoint/mirror.hpp"

#include "daemon/tasks.hpp"
#include "endpoint/endpoint.hpp"
#include "util/url.hpp"

#include <llmpt/session.hpp>

#include <condition_variable>
#include <mutex>

namespace llmpt::endpoint {
namespace {

namespace fs = std::filesystem;

class Mirror final : public Server {
public:
    std::uint16_t port() const override { return endpoint_->port(); }
    void stop() override {
        {
            std::lock_guard lk(mu_);
            if (stopped_) return;
            stopped_ = true;
        }
        endpoint_->stop();
        cv_.notify_all();
    }
    void wait() override {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stopped_; });
    }

    std::unique_ptr<Session> session_;             // first: destroyed after its users
    std::unique_ptr<daemon::Tasks> tasks_;
    std::unique_ptr<Endpoint> endpoint_;

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopped_ = false;
};

} // namespace

Result<std::unique_ptr<Server>> start_mirror(const ServeOptions& o) {
    if (!o.token.empty()) return Error(errc::usage, "--token and --upstream do not go together: the Hub decides access");
    auto m = std::make_unique<Mirror>();
    Settings settings = Settings::from_env();
    settings.cache_dir = o.cache_dir;
    auto session = Session::start(settings);
    if (!session) return session.error();
    m->session_ = std::move(*session);
    const auto state = o.cache_dir / ".locks" / "llmpt-serve";
    std::error_code ec;
    fs::create_directories(state, ec);
    fs::permissions(state, fs::perms::owner_all, ec); // tasks.json holds tokens
    daemon::Tasks::Config tc;
    tc.base = settings;
    tc.session = m->session_.get();
    tc.caches = {fs::weakly_canonical(fs::absolute(o.cache_dir, ec), ec)};
    tc.state_file = state / "tasks.json";
    tc.log = o.log;
    m->tasks_ = std::make_unique<daemon::Tasks>(std::move(tc));

    Options eo;
    eo.upstream = util::trim_trailing_slashes(o.upstream);
    eo.cache_dir = o.cache_dir;
    eo.state_dir = state;
    eo.log = o.log;
    auto* tasks = m->tasks_.get();
    eo.submit = [tasks](const daemon::TaskRequest& t, std::shared_ptr<FileWatch> watch) -> Status {
        auto s = tasks->submit(t, std::move(watch));
        if (!s) return s.error();
        return ok();
    };
    server::Options so;
    so.host = o.host;
    so.port = o.port;
    so.threads = std::max(o.threads, 8); // a handler waits on the Hub for metadata
    so.max_connections = o.max_connections;
    so.log = o.log;
    auto e = Endpoint::start(std::move(eo), so);
    if (!e) return e.error();
    m->endpoint_ = std::move(*e);
    return std::unique_ptr<Server>(std::move(m));
}

} // namespace llmpt::endpoint
