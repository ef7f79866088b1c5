// HttpServer (server/http_server.hpp). Longer than our ~400-line norm: one
// Beast session type for TCP and Unix sockets, with its limits, timeouts,
// sendfile bodies and streamed bodies, which share the connection's state.
#include "server/http_server.hpp"

#include "util/url.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <type_traits>

namespace llmpt::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

Response Response::json_error(int status, const std::string& message) {
    Response r;
    r.status = status;
    // A message may quote a decoded path or query that is not UTF-8.
    r.body = nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    r.header("Content-Type", "application/json");
    return r;
}

std::map<std::string, std::vector<std::string>> parse_query(const std::string& query) {
    std::map<std::string, std::vector<std::string>> out;
    std::size_t start = 0;
    while (start < query.size()) {
        auto end = query.find('&', start);
        if (end == std::string::npos) end = query.size();
        const auto part = query.substr(start, end - start);
        const auto eq = part.find('=');
        std::string k = part.substr(0, eq), v = eq == std::string::npos ? "" : part.substr(eq + 1);
        for (auto* s : {&k, &v})
            for (auto& c : *s)
                if (c == '+') c = ' ';
        auto dk = util::url_decode(k), dv = util::url_decode(v);
        if (dk && dv) out[*dk].push_back(*dv);
        start = end + 1;
    }
    return out;
}

namespace {

// What sessions need of their server, whatever the socket kind.
class ServerCore {
public:
    ServerCore(Options o, Handler h) : options_(std::move(o)), handler_(std::move(h)) {}
    const Options& options() const { return options_; }
    const Handler& handler() const { return handler_; }
    std::atomic<std::size_t> connections{0};

    // Streamed bodies in flight, cancelled when the server stops.
    void track(const std::shared_ptr<BodyStream>& s) {
        std::lock_guard lk(streams_mu_);
        std::erase_if(streams_, [](const auto& w) { return w.expired(); });
        streams_.push_back(s);
    }
    void cancel_streams() {
        std::vector<std::weak_ptr<BodyStream>> all;
        {
            std::lock_guard lk(streams_mu_);
            all.swap(streams_);
        }
        for (auto& w : all)
            if (auto s = w.lock()) s->cancel();
    }

protected:
    Options options_;
    Handler handler_;
    std::mutex streams_mu_;
    std::vector<std::weak_ptr<BodyStream>> streams_;
};

// One connection over TCP or a Unix socket (Protocol: tcp or local::stream_protocol).
template <class Protocol>
class Session : public std::enable_shared_from_this<Session<Protocol>> {
public:
    using Socket = typename Protocol::socket;
    Session(Socket socket, ServerCore& server);
    ~Session();
    void start() { read(); }

private:
    void read();
    void on_read(beast::error_code ec);
    void reply(Response res, bool keep_alive);
    void send_file();
    void start_stream();
    void pump();
    void write_stream(std::string data);
    void watch_client();
    void done_writing(bool keep_alive, beast::error_code ec);
    void linger(std::size_t drained);
    void fail_request(int status, const std::string& message);

    using std::enable_shared_from_this<Session<Protocol>>::shared_from_this;

    beast::basic_stream<Protocol> stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    ServerCore& server_;
    std::string remote_;
    std::string log_line_;

    // The response being written.
    std::shared_ptr<http::response<http::string_body>> res_;
    std::optional<FileRegion> file_;
    bool keep_alive_ = false;
    bool linger_ = false;
    asio::steady_timer file_timer_;
    std::chrono::steady_clock::time_point last_progress_;

    // A streamed body (Response::stream).
    std::shared_ptr<BodyStream> body_stream_;
    std::string chunk_;
    std::array<char, 512> sink_{};
};

template <class Protocol>
class Server final : public ServerCore, public HttpServer {
public:
    Server(Options o, Handler h) : ServerCore(std::move(o), std::move(h)), acceptor_(ctx_) {}

    Status listen() {
        beast::error_code ec;
        if constexpr (std::is_same_v<Protocol, tcp>) {
            const auto addr = asio::ip::make_address(options_.host, ec);
            if (ec) return Error(errc::usage, "invalid listen address", options_.host);
            const tcp::endpoint ep(addr, options_.port);
            acceptor_.open(ep.protocol(), ec);
            if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
            if (!ec) acceptor_.bind(ep, ec);
            if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
            if (ec)
                return Error(errc::failure, "cannot listen: " + ec.message(),
                             options_.host + ":" + std::to_string(options_.port));
            port_ = acceptor_.local_endpoint().port();
        } else {
            // Only the owner may connect: the socket is made 0600 before
            // anyone can reach it (umask around bind).
            const typename Protocol::endpoint ep(options_.unix_path);
            acceptor_.open(ep.protocol(), ec);
            if (!ec) {
                const mode_t old = ::umask(0177);
                acceptor_.bind(ep, ec);
                ::umask(old);
            }
            if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
            if (ec) return Error(errc::failure, "cannot listen: " + ec.message(), options_.unix_path);
        }
        accept();
        for (int i = 0; i < std::max(1, options_.threads); ++i)
            threads_.emplace_back([this] { ctx_.run(); });
        return ok();
    }

    std::uint16_t port() const override { return port_; }

    void stop() override {
        std::call_once(stopped_, [this] {
            cancel_streams();
            asio::post(ctx_, [this] {
                beast::error_code ec;
                acceptor_.close(ec);
            });
            ctx_.stop();
            for (auto& t : threads_)
                if (t.joinable()) t.join();
            std::lock_guard lk(mu_);
            done_ = true;
            cv_.notify_all();
        });
    }

    void wait() override {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return done_; });
    }

    ~Server() override { stop(); }

private:
    void accept() {
        acceptor_.async_accept(asio::make_strand(ctx_), [this](beast::error_code ec, typename Protocol::socket s) {
            if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
            if (!ec) {
                if (connections.load() >= options_.max_connections) {
                    beast::error_code ignore;
                    s.close(ignore);
                } else {
                    std::make_shared<Session<Protocol>>(std::move(s), *this)->start();
                }
            }
            accept();
        });
    }

    asio::io_context ctx_;
    typename Protocol::acceptor acceptor_;
    std::vector<std::thread> threads_;
    std::uint16_t port_ = 0;
    std::once_flag stopped_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
};

template <class Protocol>
Session<Protocol>::Session(Socket socket, ServerCore& server)
    : stream_(std::move(socket)), server_(server), file_timer_(stream_.get_executor()) {
    if constexpr (std::is_same_v<Protocol, tcp>) {
        beast::error_code ec;
        const auto ep = stream_.socket().remote_endpoint(ec);
        if (!ec) remote_ = ep.address().to_string();
    } else {
        remote_ = "local";
    }
    ++server_.connections;
}

template <class Protocol>
Session<Protocol>::~Session() {
    if (file_ && file_->fd >= 0) ::close(file_->fd);
    --server_.connections;
}

template <class Protocol>
void Session<Protocol>::read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options().header_limit));
    parser_->body_limit(server_.options().body_limit);
    stream_.expires_after(server_.options().idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

template <class Protocol>
void Session<Protocol>::fail_request(int status, const std::string& message) {
    linger_ = true; // the rest of the request may still be on its way
    reply(Response::json_error(status, message), false);
}

template <class Protocol>
void Session<Protocol>::on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::eof)
        return;
    if (ec == http::error::header_limit) return fail_request(431, "request header fields too large");
    if (ec == http::error::body_limit) return fail_request(413, "request body too large");
    if (ec) return fail_request(400, "malformed request: " + ec.message());

    auto& msg = parser_->get();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    const auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    for (const auto& f : msg) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers[name] = std::string(f.value());
    }
    req.body = std::move(msg.body());
    req.remote = remote_;

    Response res;
    try {
        res = server_.handler()(req);
    } catch (const std::exception& e) {
        res = Response::json_error(500, std::string("internal error: ") + e.what());
    }
    if (server_.options().log)
        log_line_ = remote_ + " " + req.method + " " + req.target + " ";
    const bool head = req.method == "HEAD";
    if (head && res.file) {
        ::close(res.file->fd);
        res.file->fd = -1;
    }
    if (head) res.stream.reset();
    const bool keep_alive = msg.keep_alive() && !res.stream; // a streamed body ends with the connection
    reply(std::move(res), keep_alive);
}

template <class Protocol>
void Session<Protocol>::reply(Response res, bool keep_alive) {
    res_ = std::make_shared<http::response<http::string_body>>();
    res_->result(static_cast<unsigned>(res.status));
    res_->version(11);
    res_->set(http::field::server, "llmpt");
    for (auto& [k, v] : res.headers) res_->set(k, v);
    res_->keep_alive(keep_alive);
    keep_alive_ = keep_alive;
    std::uint64_t length = res.body.size();
    if (res.file) length = res.file->length;
    if (!res.file) res_->body() = std::move(res.body);
    // HEAD keeps the Content-Length of the GET it describes.
    bool has_length = false;
    for (auto& [k, v] : res.headers)
        if (beast::iequals(k, "content-length")) has_length = true;
    if (!has_length && !res.stream) res_->content_length(length);
    if (res.file && res.file->fd >= 0) file_ = res.file;
    body_stream_ = std::move(res.stream);
    if (body_stream_) server_.track(body_stream_);
    if (server_.options().log) {
        server_.options().log(log_line_ + std::to_string(res.status) + " " + std::to_string(length));
        log_line_.clear();
    }

    stream_.expires_after(server_.options().idle_timeout);
    if (body_stream_) {
        auto sr = std::make_shared<http::response_serializer<http::string_body>>(*res_);
        http::async_write_header(stream_, *sr, [self = shared_from_this(), sr](beast::error_code ec, std::size_t) {
            if (ec) return self->body_stream_->cancel();
            self->start_stream();
        });
        return;
    }
    if (file_) {
        // Header only now; the body follows with sendfile.
        auto sr = std::make_shared<http::response_serializer<http::string_body>>(*res_);
        http::async_write_header(stream_, *sr, [self = shared_from_this(), sr](beast::error_code ec, std::size_t) {
            if (ec) return;
            self->last_progress_ = std::chrono::steady_clock::now();
            self->send_file();
        });
        return;
    }
    http::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->done_writing(self->keep_alive_, ec);
    });
}

template <class Protocol>
void Session<Protocol>::send_file() {
    auto& sock = stream_.socket();
    beast::error_code ec;
    sock.non_blocking(true, ec);
    while (file_->length > 0) {
        off_t off = static_cast<off_t>(file_->offset);
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(file_->length, 8u << 20));
        const ssize_t n = ::sendfile(sock.native_handle(), file_->fd, &off, want);
        if (n > 0) {
            file_->offset += static_cast<std::uint64_t>(n);
            file_->length -= static_cast<std::uint64_t>(n);
            last_progress_ = std::chrono::steady_clock::now();
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (std::chrono::steady_clock::now() - last_progress_ > server_.options().idle_timeout) {
                sock.close(ec);
                return;
            }
            // Wake on writability, or after a second to check for a stall.
            file_timer_.expires_after(std::chrono::seconds(1));
            file_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
                if (!e) self->stream_.socket().cancel();
            });
            sock.async_wait(asio::socket_base::wait_write, [self = shared_from_this()](beast::error_code e) {
                self->file_timer_.cancel();
                if (e && e != asio::error::operation_aborted) return;
                self->send_file();
            });
            return;
        }
        sock.close(ec); // error, or the file shrank under us
        return;
    }
    ::close(file_->fd);
    file_.reset();
    sock.non_blocking(false, ec);
    done_writing(keep_alive_, {});
}

// A streamed body goes over the raw socket (the stream's timeouts would
// apply to the watch read too): each write must finish within the idle
// timeout, and a read that ends tells that the client went away.
template <class Protocol>
void Session<Protocol>::start_stream() {
    stream_.expires_never();
    watch_client();
    pump();
}

template <class Protocol>
void Session<Protocol>::watch_client() {
    stream_.socket().async_read_some(asio::buffer(sink_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (!ec) return self->watch_client(); // nothing is expected; ignore it
        self->body_stream_->cancel();
        beast::error_code ignore;
        self->stream_.socket().close(ignore);
    });
}

template <class Protocol>
void Session<Protocol>::pump() {
    body_stream_->next([self = shared_from_this()](std::string data) {
        asio::post(self->stream_.get_executor(),
                   [self, data = std::move(data)]() mutable { self->write_stream(std::move(data)); });
    });
}

template <class Protocol>
void Session<Protocol>::write_stream(std::string data) {
    auto& sock = stream_.socket();
    beast::error_code ignore;
    if (!sock.is_open()) return;
    if (data.empty()) { // the end of the body: the connection ends it
        sock.shutdown(asio::socket_base::shutdown_send, ignore);
        sock.close(ignore);
        return;
    }
    chunk_ = std::move(data);
    file_timer_.expires_after(server_.options().idle_timeout);
    file_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
        beast::error_code ignore2;
        if (!e) self->stream_.socket().close(ignore2); // a client that does not read
    });
    asio::async_write(sock, asio::buffer(chunk_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->file_timer_.cancel();
        if (ec) return self->body_stream_->cancel();
        self->pump();
    });
}

template <class Protocol>
void Session<Protocol>::done_writing(bool keep_alive, beast::error_code ec) {
    if (ec) return;
    if (!keep_alive) {
        beast::error_code ignore;
        stream_.socket().shutdown(asio::socket_base::shutdown_send, ignore);
        // Lingering close after an early answer: drain what the client is
        // still sending (bounded), so our answer is not lost to a reset.
        if (linger_) {
            stream_.expires_after(std::chrono::seconds(2));
            linger(0);
        }
        return;
    }
    read();
}

template <class Protocol>
void Session<Protocol>::linger(std::size_t drained) {
    if (drained > (8u << 20)) return;
    auto buf = std::make_shared<std::array<char, 16384>>();
    stream_.async_read_some(asio::buffer(*buf), [self = shared_from_this(), buf, drained](
                                                    beast::error_code ec, std::size_t n) {
        if (!ec) self->linger(drained + n);
    });
}

} // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(Options options, Handler handler) {
    if (!options.unix_path.empty()) {
        auto s = std::make_unique<Server<asio::local::stream_protocol>>(std::move(options), std::move(handler));
        if (auto st = s->listen(); !st) return st.error();
        return std::unique_ptr<HttpServer>(std::move(s));
    }
    auto s = std::make_unique<Server<tcp>>(std::move(options), std::move(handler));
    if (auto st = s->listen(); !st) return st.error();
    return std::unique_ptr<HttpServer>(std::move(s));
}

} // namespace llmpt::server
