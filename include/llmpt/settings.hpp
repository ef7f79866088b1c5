// All knobs of the library in one typed struct, with defaults and from_env().
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmpt {

// How the P2P session writes and reads files (LLMPT_P2P_DISK_IO).
enum class DiskIo {
    pooled, // llmpt's: pread/pwrite on a worker pool, small RSS; blocks written on the network thread while the page cache takes them at once
    queued, // the same, every write on a writer thread: for file systems whose writes can stall
    posix,  // libtorrent's: every job on the network thread
    mmap,   // libtorrent 2.0's default: maps whole files (inflates RSS)
};
std::optional<DiskIo> parse_disk_io(std::string_view name);

// Which pieces a download asks peers for first (LLMPT_P2P_PIECE_ORDER).
enum class PieceOrder {
    automatic,    // in file order while the only downloader, rarest-first once another shows (docs/design.md, "The swarm")
    rarest_first, // libtorrent's: what the swarm has least of, so that peers have different pieces to trade
    in_order,     // file order: the Hub's hash follows the transfer, but every peer wants the same piece
};
std::optional<PieceOrder> parse_piece_order(std::string_view name);

struct Settings {
    // Hub endpoint (HF_ENDPOINT), without a trailing slash.
    std::string endpoint = "https://huggingface.co";
    // Bearer token (HF_TOKEN, HUGGING_FACE_HUB_TOKEN, $HF_HOME/token). Empty: none.
    std::string token;
    // Cache root (HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, $HF_HOME/hub,
    // $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub).
    std::filesystem::path cache_dir;
    // HF_HUB_OFFLINE=1: never touch the network, serve from the cache only.
    bool offline = false;
    // Tracker base URL (LLMPT_TRACKER, alias HF_P2P_TRACKER). Empty: none.
    std::string tracker;
    // The tracker's publish token (LLMPT_PUBLISH_TOKEN): publishing, and
    // taking part in a cold-start cohort on a tracker that requires one.
    std::string publish_token;

    // HTTP transfer tuning.
    int http_connections = 8;                       // parallel transfers in one download
    std::uint64_t http_chunk_size = 32ull << 20;    // ranged chunk size for large files
    std::chrono::milliseconds connect_timeout{5000};
    // A transfer slower than 1 KiB/s for this long is aborted and retried.
    std::chrono::seconds stall_timeout{30};
    // API calls (revision, tree): total time per attempt.
    std::chrono::seconds api_timeout{30};
    int max_retries = 5;                            // per request, for 408/429/5xx/network
    std::chrono::milliseconds retry_base_delay{250};
    std::chrono::milliseconds retry_max_delay{10000};
    // A server that asks for a longer wait than this (Retry-After, the Hub's
    // RateLimit header on a 429) fails the request at once with a message;
    // shorter waits are waited out, and told as warnings.
    std::chrono::seconds max_server_wait{300};
    // P2P: peers from the tracker first, HTTP for whatever they cannot give.
    bool p2p = true;                                // --no-p2p: HTTP only
    bool webseed = true;                            // the Hub's resolve URLs as BEP 19 web seeds
    std::chrono::seconds p2p_timeout{10};           // no P2P progress this long: HTTP takes over
    std::string p2p_listen = "0.0.0.0:0";           // HOST:PORT for peers
    bool p2p_utp = false;                           // uTP is ~10x slower than TCP on LANs
    bool p2p_dht = false, p2p_lsd = false;          // peers come from the tracker
    bool p2p_upnp = false, p2p_natpmp = false;
    int p2p_download_rate_limit = 0;                // bytes/s, 0: none
    int p2p_upload_rate_limit = 0;
    int p2p_connections_limit = 200;
    DiskIo p2p_disk_io = DiskIo::pooled;
    PieceOrder p2p_piece_order = PieceOrder::automatic;
    // A complete seeder hands each piece out about once and lets the swarm
    // pass it on (LLMPT_P2P_SEED_DISPATCH=0 turns it off).
    bool p2p_seed_dispatch = true;
    // A download makes libtorrent look again at connections that ask for
    // nothing while their peer holds pieces it wants (docs/design.md, "The
    // swarm"); LLMPT_P2P_WAKE_IDLE=0 turns it off.
    bool p2p_wake_idle = true;
    // Nodes that start together when the tracker has no torrent share one
    // copy from the Hub (docs/design.md, "The cold start"); LLMPT_P2P_COHORT=0
    // turns it off.
    bool p2p_cohort = true;
    // For experts: raw libtorrent settings by name, applied last
    // (LLMPT_LIBTORRENT_SETTINGS="name=value,name=value"; booleans as 0/1).
    std::vector<std::pair<std::string, std::string>> p2p_libtorrent;
    // LLMPT_P2P_LOG: a file that gets every libtorrent alert of the session
    // (connections, peers, trackers, errors) with a timestamp, for finding
    // out why peers do not talk. Empty: none.
    std::string p2p_log;
    std::chrono::milliseconds tracker_connect_timeout{2000};
    std::chrono::milliseconds tracker_timeout{5000};

    // How long to wait for another process holding a blob's lock.
    std::chrono::seconds lock_timeout{600};

    // Reads every variable documented above. Never fails: unset or unreadable
    // values keep their defaults, and a value that is set but not understood
    // is named in `env_problems` (the CLI warns about each).
    static Settings from_env();
    std::vector<std::string> env_problems;
};

// The cache root (docs/design.md, "Cache layout") from the environment.
std::filesystem::path default_cache_dir();

} // namespace llmpt
