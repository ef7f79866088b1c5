// Tasks (daemon/tasks.hpp). Longer than our ~400-line norm: a task, its
// event streams to subscribers, its worker thread and tasks.json are one
// state machine under one lock; the request's wire form is task_request.cpp.
#include "daemon/tasks.hpp"

#include "download/json.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"
#include "util/time.hpp"

#include <llmpt/download.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <random>

namespace llmpt::daemon {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxFinished = 100;       // finished tasks remembered
constexpr std::size_t kMaxWarnings = 20;        // per task, the latest
constexpr std::size_t kStreamBacklog = 4u << 20; // bytes a subscriber may fall behind

std::string new_id() {
    static std::mutex mu;
    static std::mt19937_64 rng{std::random_device{}()};
    std::lock_guard lk(mu);
    return fmt::format("{:016x}", rng());
}

std::string frame(const std::string& event, const std::string& data) {
    return "event: " + event + "\ndata: " + data + "\n\n";
}

bool finished(TaskState state) { return is_final(state); }

} // namespace

// The two below are members of Task (declared in the header), so they are
// not in the anonymous namespace.

// One subscriber's Server-Sent Events body. Frames queue until the
// connection asks for more; progress frames replace each other, so a slow
// reader only loses intermediate progress. A reader that falls further
// behind than kStreamBacklog is ended (it may reconnect: it gets the state).
class EventStream final : public server::BodyStream {
public:
    void push(const std::string& f, bool progress) {
        std::lock_guard lk(mu_);
        if (closed_ || ended_) return;
        if (progress) {
            progress_ = f;
        } else {
            queue_ += progress_;
            progress_.clear();
            queue_ += f;
            if (queue_.size() > kStreamBacklog) {
                queue_.clear();
                ended_ = true;
            }
        }
        flush();
    }
    void end() {
        std::lock_guard lk(mu_);
        ended_ = true;
        flush();
    }
    void next(Deliver d) override {
        std::lock_guard lk(mu_);
        if (closed_) return;
        waiting_ = std::move(d);
        flush();
    }
    void cancel() override {
        std::lock_guard lk(mu_);
        closed_ = true;
        waiting_ = nullptr;
        queue_.clear();
        progress_.clear();
    }
    bool closed() const {
        std::lock_guard lk(mu_);
        return closed_;
    }

private:
    // `deliver` only posts to the connection's executor: called under the
    // lock, so that cancel() really means no call after it returns.
    void flush() {
        if (!waiting_) return;
        std::string out = std::move(queue_);
        queue_.clear();
        out += progress_;
        progress_.clear();
        if (out.empty()) {
            if (!ended_) return;
            closed_ = true; // the empty delivery ends the body
        }
        auto d = std::move(waiting_);
        waiting_ = nullptr;
        d(std::move(out));
    }

    mutable std::mutex mu_;
    std::string queue_, progress_;
    bool ended_ = false, closed_ = false;
    Deliver waiting_;
};

// Every watch of one task (Tasks::submit), told each of its download's events.
class WatchFan final : public FileWatch {
public:
    void add(std::shared_ptr<FileWatch> w) {
        std::lock_guard lk(mu_);
        watches_.push_back(std::move(w));
    }
    void progress(const std::string& path, const fs::path& file, std::uint64_t prefix) override {
        for (const auto& w : all()) w->progress(path, file, prefix);
    }
    void placed(const std::string& path, const fs::path& placed) override {
        for (const auto& w : all()) w->placed(path, placed);
    }
    // Once: the download tells it, and so does the task when it ends
    // without one (cancelled while queued, a request that does not apply).
    void ended(bool ok) override {
        if (ended_.exchange(true)) return;
        for (const auto& w : all()) w->ended(ok);
    }
    std::vector<std::pair<std::string, std::uint64_t>> waiting() override {
        std::vector<std::pair<std::string, std::uint64_t>> out;
        for (const auto& w : all())
            for (auto& p : w->waiting()) out.push_back(std::move(p));
        return out;
    }

private:
    std::vector<std::shared_ptr<FileWatch>> all() const {
        std::lock_guard lk(mu_);
        return watches_;
    }
    mutable std::mutex mu_;
    std::vector<std::shared_ptr<FileWatch>> watches_;
    std::atomic<bool> ended_{false};
};

struct Task {
    std::string id, key, created;
    TaskRequest req;
    std::atomic<bool> cancel{false};
    const std::shared_ptr<WatchFan> watches = std::make_shared<WatchFan>();

    mutable std::mutex mu; // everything below
    TaskState state = TaskState::queued;
    bool user_cancelled = false;
    std::optional<PlanEvent> plan;
    std::optional<ProgressEvent> progress;
    std::vector<FileReadyEvent> files;
    std::vector<std::string> warnings;
    std::optional<json> result; // to_json_value(DownloadResult)
    std::optional<Error> error;
    std::vector<std::shared_ptr<EventStream>> subscribers;

    json to_json_locked() const {
        auto request = to_json_value(req);
        request.erase("token");
        request["token_set"] = !req.token.empty();
        json ready = json::array();
        for (const auto& f : files) ready.push_back(to_json_value(Event{f}));
        json j = {{"id", id},
                  {"state", to_string(state)},
                  {"created", created},
                  {"repo", req.repo},
                  {"revision", req.revision},
                  {"request", request},
                  {"plan", plan ? to_json_value(Event{*plan}) : json(nullptr)},
                  {"progress", progress ? to_json_value(Event{*progress}) : json(nullptr)},
                  {"files_ready", ready},
                  {"warnings", warnings},
                  {"result", result ? *result : json(nullptr)},
                  {"error", error ? json{{"message", error->what()}, {"exit_code", error->exit_code()}} : json(nullptr)},
                  {"subscribers", subscribers.size()}};
        return j;
    }

    void publish_locked(const std::string& f, bool progress_frame) {
        std::erase_if(subscribers, [](const auto& s) { return s->closed(); });
        for (const auto& s : subscribers) s->push(f, progress_frame);
    }

    void on_event(const Event& e) {
        std::lock_guard lk(mu);
        if (const auto* p = std::get_if<PlanEvent>(&e)) plan = *p;
        else if (const auto* g = std::get_if<ProgressEvent>(&e)) progress = *g;
        else if (const auto* f = std::get_if<FileReadyEvent>(&e)) files.push_back(*f);
        else if (const auto* w = std::get_if<WarningEvent>(&e)) {
            warnings.push_back(w->message);
            if (warnings.size() > kMaxWarnings) warnings.erase(warnings.begin());
        }
        static constexpr const char* names[] = {"plan", "progress", "file", "warning"}; // Event's alternatives
        static_assert(std::size(names) == std::variant_size_v<Event>);
        publish_locked(frame(names[e.index()], llmpt::to_json(e)), std::holds_alternative<ProgressEvent>(e));
    }

    // The final state: subscribers get it as the last event, then their streams end.
    void finish_locked(TaskState final_state) {
        state = final_state;
        const auto f = frame(std::string(to_string(state)), to_json_locked().dump());
        publish_locked(f, false);
        for (const auto& s : subscribers) s->end();
        subscribers.clear();
    }
};

Tasks::Tasks(Config c) : c_(std::move(c)) {}

Tasks::~Tasks() {
    std::unique_lock lk(mu_);
    stopping_ = true;
    for (auto& [_, t] : tasks_) t->cancel = true;
    slot_.notify_all();
    if (!idle_.wait_for(lk, c_.stop_grace, [&] { return threads_ == 0; })) {
        std::string ids;
        for (const auto& [id, t] : tasks_) {
            std::lock_guard tl(t->mu);
            if (t->state == TaskState::running) ids += (ids.empty() ? "" : ", ") + id;
        }
        const auto stuck = threads_;
        if (c_.log)
            c_.log(fmt::format("{} task(s) did not stop within {} ms of being cancelled (running: {})", stuck,
                               c_.stop_grace.count(), ids));
        if (c_.on_stuck) {
            lk.unlock();
            c_.on_stuck(stuck);
            lk.lock();
        }
        idle_.wait(lk, [&] { return threads_ == 0; });
    }
    // Streams of tasks that will resume at the next start end here, without a final event.
    for (auto& [_, t] : tasks_) {
        std::lock_guard tl(t->mu);
        for (const auto& s : t->subscribers) s->end();
        t->subscribers.clear();
    }
}

std::size_t Tasks::active() const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (const auto& [_, t] : tasks_) {
        std::lock_guard tl(t->mu);
        if (!finished(t->state)) ++n;
    }
    return n;
}

bool Tasks::busy(const fs::path& cache, const RepoRef& repo) const {
    std::lock_guard lk(mu_);
    for (const auto& [_, t] : tasks_) {
        std::lock_guard tl(t->mu);
        if (finished(t->state) || t->req.cache_dir != cache.string() || t->req.repo != repo.id.str()) continue;
        if (t->req.repo_type == repo.type) return true;
    }
    return false;
}

Result<Tasks::Submitted> Tasks::submit(const TaskRequest& request, std::shared_ptr<FileWatch> watch) {
    TaskRequest req = request;
    std::error_code ec;
    if (req.cache_dir.empty()) req.cache_dir = c_.caches.front().string();
    const auto cache = fs::weakly_canonical(fs::absolute(req.cache_dir, ec), ec);
    bool served = false;
    for (const auto& c : c_.caches) served = served || c == cache;
    if (!served) {
        std::string list;
        for (const auto& c : c_.caches) list += (list.empty() ? "" : ", ") + c.string();
        return Error(errc::usage, "cache_dir: this daemon serves " + list + ", not " + req.cache_dir);
    }
    req.cache_dir = cache.string();
    if (!req.local_dir.empty()) req.local_dir = fs::absolute(req.local_dir, ec).lexically_normal().string();
    const auto key = util::sha256_hex(req.to_json());

    std::shared_ptr<Task> t;
    {
        std::lock_guard lk(mu_);
        if (stopping_) return Error(errc::failure, "the daemon is stopping");
        for (const auto& [id, other] : tasks_) {
            std::lock_guard tl(other->mu);
            if (other->key == key && !finished(other->state) && !other->cancel) {
                if (watch) other->watches->add(std::move(watch));
                return Submitted{id, true};
            }
        }
        t = std::make_shared<Task>();
        t->id = new_id();
        t->key = key;
        t->created = util::utc_timestamp();
        t->req = std::move(req);
        if (watch) t->watches->add(std::move(watch));
        tasks_.emplace(t->id, t);
        order_.push_back(t->id);
        // Forget the oldest finished tasks beyond kMaxFinished.
        std::size_t done = 0;
        for (const auto& id : order_) {
            std::lock_guard tl(tasks_[id]->mu);
            done += finished(tasks_[id]->state);
        }
        for (auto it = order_.begin(); it != order_.end() && done > kMaxFinished;) {
            const auto& old = tasks_[*it];
            std::unique_lock tl(old->mu);
            if (finished(old->state)) {
                tl.unlock();
                tasks_.erase(*it);
                it = order_.erase(it);
                --done;
            } else {
                ++it;
            }
        }
        start_thread(t);
    }
    if (c_.log) c_.log("task " + t->id + " queued: " + t->req.repo + "@" + t->req.revision);
    save();
    return Submitted{t->id, false};
}

// Runs with mu_ held.
void Tasks::start_thread(const std::shared_ptr<Task>& t) {
    ++threads_;
    std::thread([this, t] {
        run(t);
        std::lock_guard lk(mu_);
        --threads_;
        idle_.notify_all();
    }).detach();
}

void Tasks::run(const std::shared_ptr<Task>& t) {
    {
        std::unique_lock lk(mu_);
        slot_.wait(lk, [&] { return stopping_ || t->cancel || running_ < std::max(1, c_.max_running); });
        if (stopping_) {
            lk.unlock();
            t->watches->ended(false); // outside mu_: a watch may submit the next task
            return;
        }
        if (!t->cancel) ++running_;
    }
    if (t->cancel) { // cancelled while queued
        t->watches->ended(false);
        {
            std::lock_guard tl(t->mu);
            t->finish_locked(TaskState::cancelled);
        }
        if (c_.log) c_.log("task " + t->id + " cancelled");
        save();
        return;
    }
    {
        std::lock_guard tl(t->mu);
        t->state = TaskState::running;
        t->publish_locked(frame("state", t->to_json_locked().dump()), false);
    }
    save();
    if (c_.log) c_.log("task " + t->id + " running: " + t->req.repo + "@" + t->req.revision);

    Settings settings = c_.base;
    DownloadRequest request;
    Result<DownloadResult> r = Error(errc::failure, "not run");
    if (auto st = t->req.apply(settings, request); !st) {
        r = st.error();
    } else {
        request.cancel = &t->cancel;
        request.watch = t->watches;
        const auto on_event = [&](const Event& e) { t->on_event(e); };
        if (c_.download) r = c_.download(settings, request, on_event);
        else if (c_.session) r = download(*c_.session, settings, request, on_event);
        else r = download(settings, request, on_event);
    }
    t->watches->ended(r.has_value());
    bool stopping;
    {
        std::lock_guard lk(mu_);
        --running_;
        stopping = stopping_;
    }
    slot_.notify_all();
    std::string outcome;
    {
        std::lock_guard tl(t->mu);
        if (!r && r.error().code == errc::interrupted && stopping && !t->user_cancelled)
            return; // the daemon stops: the task stays unfinished and resumes at the next start
        if (r) {
            t->result = to_json_value(*r);
            t->finish_locked(TaskState::done);
            outcome = fmt::format("done: {} bytes (p2p {}, webseed {}, http {}, cached {})", r->bytes_total,
                                  r->bytes_p2p, r->bytes_webseed, r->bytes_http, r->bytes_cached);
        } else if (r.error().code == errc::interrupted) {
            t->finish_locked(TaskState::cancelled);
            outcome = "cancelled";
        } else {
            t->error = r.error();
            t->finish_locked(TaskState::failed);
            outcome = "failed: " + r.error().what();
        }
    }
    if (c_.log) c_.log("task " + t->id + " " + outcome);
    save();
    if (c_.on_finished) c_.on_finished();
}

std::string Tasks::list_json() const {
    std::lock_guard lk(mu_);
    json out = json::array();
    for (const auto& id : order_) {
        const auto& t = tasks_.at(id);
        std::lock_guard tl(t->mu);
        auto j = t->to_json_locked();
        j.erase("files_ready"); // the list stays small; GET /v1/tasks/{id} has them
        j["files_ready"] = t->files.size();
        out.push_back(std::move(j));
    }
    return out.dump();
}

std::optional<std::string> Tasks::get_json(const std::string& id) const {
    std::lock_guard lk(mu_);
    const auto it = tasks_.find(id);
    if (it == tasks_.end()) return std::nullopt;
    std::lock_guard tl(it->second->mu);
    return it->second->to_json_locked().dump();
}

std::optional<std::string> Tasks::cancel(const std::string& id) {
    std::string answer;
    {
        std::lock_guard lk(mu_);
        const auto it = tasks_.find(id);
        if (it == tasks_.end()) return std::nullopt;
        const auto t = it->second;
        std::lock_guard tl(t->mu);
        if (finished(t->state)) { // forget it
            answer = t->to_json_locked().dump();
            tasks_.erase(it);
            std::erase(order_, id);
        } else {
            t->user_cancelled = true;
            t->cancel = true;
            answer = t->to_json_locked().dump();
        }
    }
    slot_.notify_all();
    save();
    return answer;
}

std::shared_ptr<server::BodyStream> Tasks::events(const std::string& id) {
    std::shared_ptr<Task> t;
    {
        std::lock_guard lk(mu_);
        const auto it = tasks_.find(id);
        if (it == tasks_.end()) return nullptr;
        t = it->second;
    }
    auto s = std::make_shared<EventStream>();
    std::lock_guard tl(t->mu);
    s->push(frame("state", t->to_json_locked().dump()), false);
    if (finished(t->state)) {
        s->push(frame(std::string(to_string(t->state)), t->to_json_locked().dump()), false);
        s->end();
    } else {
        t->subscribers.push_back(s);
    }
    return s;
}

// tasks.json: every task with its full request (tokens included: the state
// folder is the user's alone, mode 0700) and, once finished, its outcome.
void Tasks::save() const {
    json list = json::array();
    {
        std::lock_guard lk(mu_);
        for (const auto& id : order_) {
            const auto& t = tasks_.at(id);
            std::lock_guard tl(t->mu);
            json j = {{"id", t->id}, {"created", t->created}, {"state", to_string(t->state)},
                      {"request", to_json_value(t->req)}};
            if (t->result) j["result"] = *t->result;
            if (t->error) j["error"] = {{"message", t->error->what()}, {"exit_code", t->error->exit_code()}};
            list.push_back(std::move(j));
        }
    }
    std::lock_guard sl(save_mu_);
    if (auto st = util::write_file_atomic(c_.state_file, json{{"tasks", list}}.dump()); !st && c_.log)
        c_.log("cannot save the task list: " + st.error().what());
}

void Tasks::resume_saved() {
    auto text = util::read_small_file(c_.state_file, 64u << 20);
    if (!text) return;
    const auto j = json::parse(*text, nullptr, false);
    if (!j.is_object() || !j.contains("tasks") || !j["tasks"].is_array()) {
        if (c_.log) c_.log("ignoring an unreadable task list: " + c_.state_file.string());
        return;
    }
    std::vector<std::shared_ptr<Task>> resumed;
    {
        std::lock_guard lk(mu_);
        for (const auto& e : j["tasks"]) {
            if (!e.is_object() || !e.contains("request") || !e.contains("id") || !e["id"].is_string()) continue;
            auto req = task_request_from(e["request"]);
            if (!req) continue;
            auto t = std::make_shared<Task>();
            t->id = e["id"].get<std::string>();
            if (tasks_.count(t->id)) continue;
            t->created = e.value("created", util::utc_timestamp());
            t->req = std::move(*req);
            t->key = util::sha256_hex(t->req.to_json());
            // An unknown state (a newer daemon's file) is resumed as queued.
            const auto state = parse_task_state(e.value("state", std::string())).value_or(TaskState::queued);
            if (finished(state)) {
                t->state = state;
                if (e.contains("result") && e["result"].is_object()) t->result = e["result"];
                if (e.contains("error") && e["error"].is_object())
                    t->error = Error(static_cast<errc>(e["error"].value("exit_code", 1)),
                                     e["error"].value("message", std::string()));
            }
            tasks_.emplace(t->id, t);
            order_.push_back(t->id);
            if (!finished(state)) {
                resumed.push_back(t);
                start_thread(t);
            }
        }
    }
    for (const auto& t : resumed)
        if (c_.log) c_.log("task " + t->id + " resumed: " + t->req.repo + "@" + t->req.revision);
}

} // namespace llmpt::daemon
