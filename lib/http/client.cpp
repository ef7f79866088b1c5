#include "http/client.hpp"

#include <fmt/format.h>
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <vector>

namespace llmpt::http {
namespace {

// One share for the process: connection cache, DNS and TLS sessions.
class Share {
public:
    Share() {
        share_ = curl_share_init();
        curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &Share::lock);
        curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &Share::unlock);
        curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
        curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    }
    // At exit: every thread that used curl has been joined by then.
    ~Share() {
        for (CURL* h : pool_) curl_easy_cleanup(h);
        curl_share_cleanup(share_);
    }
    CURLSH* get() const { return share_; }

    CURL* acquire() {
        {
            std::lock_guard lk(pool_mutex_);
            if (!pool_.empty()) {
                CURL* h = pool_.back();
                pool_.pop_back();
                return h;
            }
        }
        return curl_easy_init();
    }
    void release(CURL* h) {
        curl_easy_reset(h);
        std::lock_guard lk(pool_mutex_);
        if (pool_.size() < 64) pool_.push_back(h);
        else curl_easy_cleanup(h);
    }

private:
    static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
        static_cast<Share*>(self)->locks_[data % kLocks].lock();
    }
    static void unlock(CURL*, curl_lock_data data, void* self) {
        static_cast<Share*>(self)->locks_[data % kLocks].unlock();
    }
    static constexpr int kLocks = CURL_LOCK_DATA_LAST;
    CURLSH* share_ = nullptr;
    std::mutex locks_[kLocks];
    std::mutex pool_mutex_;
    std::vector<CURL*> pool_;
};

Share& share() {
    static Share s;
    return s;
}

struct Transfer {
    const Request* req = nullptr;
    Response* resp = nullptr;
    CURL* curl = nullptr;
    bool headers_delivered = false;
    bool aborted = false;
    bool too_large = false;

    bool deliver_headers() {
        if (headers_delivered) return true;
        headers_delivered = true;
        long code = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        resp->status = static_cast<int>(code);
        if (req->on_headers && !req->on_headers(resp->status, resp->headers)) {
            aborted = true;
            return false;
        }
        return true;
    }
};

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* ud) {
    auto* t = static_cast<Transfer*>(ud);
    std::string_view line(data, size * n);
    if (line.substr(0, 5) == "HTTP/") {
        t->resp->headers.clear(); // a new response (after a redirect or 100)
        return size * n;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return size * n;
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
        value.remove_suffix(1);
    t->resp->headers[name] = std::string(value);
    return size * n;
}

std::size_t on_write(char* data, std::size_t size, std::size_t n, void* ud) {
    auto* t = static_cast<Transfer*>(ud);
    const std::size_t len = size * n;
    if (!t->deliver_headers()) return 0;
    if (t->req->on_body) {
        if (!t->req->on_body(data, len)) {
            t->aborted = true;
            return 0;
        }
        return len;
    }
    if (t->resp->body.size() + len > t->req->max_body) {
        t->too_large = true;
        return 0;
    }
    t->resp->body.append(data, len);
    return len;
}

int on_progress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* t = static_cast<Transfer*>(ud);
    return (t->req->cancel && t->req->cancel->load(std::memory_order_relaxed)) ? 1 : 0;
}

struct HandleGuard {
    CURL* h;
    ~HandleGuard() { share().release(h); }
};

} // namespace

bool is_connect_error(const Error& e) { return e.cause == Cause::unreachable; }

void global_init() {
    static const bool once = [] {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        share();
        return true;
    }();
    (void)once;
}

Result<Response> perform(const Request& req) {
    global_init();
    CURL* h = share().acquire();
    if (!h) return Error(errc::failure, "curl_easy_init failed");
    HandleGuard guard{h};

    Response resp;
    Transfer t{&req, &resp, h};

    curl_easy_setopt(h, CURLOPT_SHARE, share().get());
    curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, req.unix_socket.empty() ? nullptr : req.unix_socket.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "llmpt/0.1");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout.count()));
    if (req.total_timeout.count() > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.total_timeout.count()));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(req.stall_timeout.count()));
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
    // Identity only: we hash the exact bytes of the file.
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, nullptr);

    if (req.method == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (req.method == "POST") {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    } else if (req.method != "GET") {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }

    std::string range;
    if (req.range) {
        range = fmt::format("{}-{}", req.range->first, req.range->last);
        curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
    }

    curl_slist* list = nullptr;
    for (const auto& hd : req.headers) list = curl_slist_append(list, hd.c_str());
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);

    const CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(list);

    char* eff = nullptr;
    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff);
    if (eff) resp.effective_url = eff;
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    resp.status = static_cast<int>(code);

    if (rc == CURLE_OK) t.deliver_headers(); // empty bodies never reach on_write
    if (t.aborted) {
        resp.aborted_by_callback = true;
        return resp;
    }
    if (t.too_large)
        return Error(errc::failure, fmt::format("response body larger than {} bytes", req.max_body), req.url);
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return Error(errc::interrupted, "interrupted", req.url);
    if (rc != CURLE_OK) {
        const auto why = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                                 rc == CURLE_COULDNT_RESOLVE_PROXY
                             ? Cause::unreachable
                         : rc == CURLE_OPERATION_TIMEDOUT ? Cause::timed_out
                                                          : Cause::unspecified;
        return Error(errc::network, curl_easy_strerror(rc), req.url, why);
    }
    return resp;
}

} // namespace llmpt::http
