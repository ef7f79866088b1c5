// p2p/: the process-wide libtorrent session (the batch manager). One
// lt::session per process, created on first use with the settings given
// then; libtorrent's own network thread owns it, and one alert thread of
// ours drains its alerts into per-torrent callbacks. Callers keep
// lt::torrent_handle values (cheap, thread-safe handles) and confirm
// terminal states by polling status(), since alerts can be dropped.
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/settings.hpp>

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert.hpp>
#include <libtorrent/session.hpp>
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
    bool utp = false;                      // ~10x slower than TCP on loopback/LAN (DESIGN §7)
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
    // "pooled" (ours, p2p/disk_io.hpp: pread/pwrite on a worker pool),
    // "queued" (the same, every write on its writer thread),
    // "posix" (libtorrent's: every job on the network thread) or "mmap"
    // (libtorrent 2.0's default: maps whole files, which inflates RSS).
    std::string disk_io = "pooled";
};

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

class Session {
public:
    // The process's session; the first caller's settings win.
    static Session& get(const SessionSettings& settings = {});
    // Ends the session if it was started (bounded); for clean exits.
    static void shutdown();

    // `on_event` runs on the session's alert thread: keep it short.
    Result<lt::torrent_handle> add(lt::add_torrent_params params, EventFn on_event);
    void remove(const lt::torrent_handle& h);
    std::uint16_t listen_port() const;
    // Whether writes go through llmpt's disk back end, which feeds the
    // StreamHashes of p2p/stream_hash.hpp.
    bool streams_hashes() const { return pooled_disk_io_; }

    ~Session();

private:
    explicit Session(const SessionSettings& s);
    void alert_loop();

    std::unique_ptr<lt::session> ses_;
    bool pooled_disk_io_ = false;
    std::thread alerts_;
    std::mutex wake_mu_; // guards the two flags below
    std::condition_variable wake_;
    bool alerts_pending_ = false;
    bool stop_ = false;
    std::mutex mu_;
    std::map<lt::sha256_hash, EventFn> by_torrent_; // keyed by v2 hash
};

} // namespace llmpt::p2p
