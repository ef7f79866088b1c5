// p2p/: llmpt::Session (include/llmpt/session.hpp) over one lt::session.
// libtorrent's network thread owns the lt::session; one alert thread of ours
// drains its alerts into per-torrent callbacks, called without the
// session's lock held. Callers keep lt::torrent_handle values (cheap,
// thread-safe handles) and confirm terminal states by polling status(),
// since alerts can be dropped (docs/design.md, "libtorrent facts").
#pragma once

#include "p2p/stream_hash.hpp"

#include <llmpt/error.hpp>
#include <llmpt/session.hpp>
#include <llmpt/settings.hpp>

#include <cstdio>

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace llmpt::p2p {

struct SessionSettings {
    std::string listen = "0.0.0.0:6881";   // HOST:PORT; port 0 picks one
    bool utp = false;                      // ~10x slower than TCP on loopback/LAN
    bool dht = false, lsd = false, upnp = false, natpmp = false;
    int download_rate_limit = 0;           // bytes/s, 0: none
    int upload_rate_limit = 0;
    int connections_limit = 200;
    bool allow_multiple_connections_per_ip = true; // several peers on one host (tests, NAT)
    std::chrono::seconds stop_tracker_timeout{2};
    // SO_RCVBUF of peer sockets, bytes; 0: the kernel's autotuning. libtorrent
    // reads whatever a socket holds into one buffer, and autotuning lets a
    // fast (loopback, LAN) socket hold tens of MiB: the buffer, and the
    // allocator's arenas behind it, grow to match (~60 MiB of a download's
    // RSS). 4 MiB keeps a 50 ms path at ~80 MB/s per peer.
    int recv_socket_buffer = 4 << 20;
    DiskIo disk_io = DiskIo::pooled;
    std::vector<std::pair<std::string, std::string>> libtorrent; // raw settings by name, applied last
    bool seed_dispatch = true; // p2p/dispatch.hpp
    std::string log_file;      // every alert, appended (Settings::p2p_log)
};

// Applies raw libtorrent settings by name; the problems (unknown names, bad
// values) come back as messages, the rest is applied.
std::vector<std::string> apply_raw_settings(lt::settings_pack& pack,
                                            const std::vector<std::pair<std::string, std::string>>& raw);

// The session settings a download's Settings ask for.
SessionSettings session_settings(const Settings& s);

// What a torrent's alerts mean to us. Alerts can be dropped when the queue
// is full, so these are hints that wake a waiting caller early; terminal
// states are always confirmed by polling the torrent's status.
struct TorrentEvent {
    enum class Kind { checked, file_completed, finished, error, tracker_error, hash_failed };
    Kind kind;
    int file = -1;        // file_completed
    int piece = -1;       // hash_failed
    std::string message;  // error, tracker_error
};
using EventFn = std::function<void(const TorrentEvent&)>;

class Session final : public llmpt::Session {
public:
    explicit Session(const SessionSettings& settings);
    ~Session() override;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Adds a torrent. `on_event` runs on the session's alert thread (keep it
    // short), never after remove() returned. `streams` (by file index) are
    // the stream hashes its files' checked pieces feed, with the pooled disk
    // back end (streams_hashes()); otherwise they are dropped.
    // `dispatch`: a complete seed that hands each piece out about once
    // (p2p/dispatch.hpp), when the session has seed dispatch on.
    Result<lt::torrent_handle> add(lt::add_torrent_params params, EventFn on_event,
                                   StreamRegistry::Streams streams = {}, bool dispatch = false);
    // Removes a torrent once an announce in flight has landed (bounded), so
    // its `stopped` announce is sent, and returns once libtorrent has let go
    // of it (bounded): its files are free, its connections closed.
    void remove(const lt::torrent_handle& h);
    // Leaves a torrent in the session with no listener (nothing of the
    // caller's is called any more), for the next add() of the same torrent
    // to take over as it is: a download that finished as a complete seed
    // goes on seeding without dropping its peers and their requests. One
    // that nobody takes over ends with the session, or with remove().
    void park(const lt::torrent_handle& h);
    std::uint16_t listen_port() const override;
    // Whether writes go through llmpt's disk back end, which feeds stream hashes.
    bool streams_hashes() const { return registry_ != nullptr; }
    // The alert log (LLMPT_P2P_LOG): whether there is one, and a line of
    // ours in it (timestamped like the alerts).
    bool tracing() const { return log_ != nullptr; }
    void trace(std::string_view what, std::string_view message);

private:
    void alert_loop();
    static void settle_announces(const lt::torrent_handle& h);
    // A torrent's callback; `mu` is held while it runs, and remove() takes it
    // to know that no call is under way.
    struct Listener {
        std::mutex mu;
        EventFn fn;
    };

    std::shared_ptr<StreamRegistry> registry_; // null unless the pooled back end
    std::FILE* log_ = nullptr;                 // SessionSettings::log_file
    std::mutex log_mu_;                        // one line at a time in log_
    std::unique_ptr<lt::session> ses_;
    std::thread alerts_;
    std::mutex wake_mu_; // guards the two flags below
    std::condition_variable wake_;
    bool alerts_pending_ = false;
    bool stop_ = false;
    std::mutex mu_; // by_torrent_, parked_
    std::map<lt::sha256_hash, std::shared_ptr<Listener>> by_torrent_; // keyed by v2 hash
    std::map<lt::sha256_hash, lt::torrent_handle> parked_;             // park(), keyed by v2 hash
};

// The implementation behind a caller's llmpt::Session.
inline Session& internal(llmpt::Session& s) { return static_cast<Session&>(s); }

} // namespace llmpt::p2p
