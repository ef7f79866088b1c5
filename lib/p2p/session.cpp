#include "p2p/session.hpp"

#include "p2p/disk_io.hpp"
#include "p2p/dispatch.hpp"

#include <libtorrent/alert_types.hpp>
#include <libtorrent/ip_filter.hpp>
#include <libtorrent/posix_disk_io.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>

#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <optional>

namespace llmpt::p2p {

SessionSettings session_settings(const Settings& s) {
    SessionSettings ss;
    ss.listen = s.p2p_listen;
    ss.utp = s.p2p_utp;
    ss.dht = s.p2p_dht;
    ss.lsd = s.p2p_lsd;
    ss.upnp = s.p2p_upnp;
    ss.natpmp = s.p2p_natpmp;
    ss.download_rate_limit = s.p2p_download_rate_limit;
    ss.upload_rate_limit = s.p2p_upload_rate_limit;
    ss.connections_limit = s.p2p_connections_limit;
    ss.disk_io = s.p2p_disk_io;
    ss.libtorrent = s.p2p_libtorrent;
    ss.seed_dispatch = s.p2p_seed_dispatch;
    ss.log_file = s.p2p_log;
    return ss;
}

std::vector<std::string> apply_raw_settings(lt::settings_pack& sp,
                                            const std::vector<std::pair<std::string, std::string>>& raw) {
    std::vector<std::string> problems;
    for (const auto& [name, value] : raw) {
        const int key = lt::setting_by_name(name);
        if (key < 0) {
            problems.push_back("unknown libtorrent setting '" + name + "'");
            continue;
        }
        try {
            switch (key & lt::settings_pack::type_mask) {
            case lt::settings_pack::string_type_base: sp.set_str(key, value); break;
            case lt::settings_pack::int_type_base: sp.set_int(key, std::stoi(value)); break;
            case lt::settings_pack::bool_type_base: sp.set_bool(key, value == "1" || value == "true"); break;
            }
        } catch (const std::exception&) {
            problems.push_back("libtorrent setting '" + name + "' needs a number, not '" + value + "'");
        }
    }
    return problems;
}

Session::Session(const SessionSettings& s) {
    // libtorrent's preset for fast links; the defaults are tuned for the internet.
    lt::settings_pack sp = lt::high_performance_seed();
    sp.set_str(lt::settings_pack::listen_interfaces, s.listen);
    sp.set_bool(lt::settings_pack::enable_dht, s.dht);
    sp.set_bool(lt::settings_pack::enable_lsd, s.lsd);
    sp.set_bool(lt::settings_pack::enable_upnp, s.upnp);
    sp.set_bool(lt::settings_pack::enable_natpmp, s.natpmp);
    sp.set_bool(lt::settings_pack::enable_outgoing_utp, s.utp);
    sp.set_bool(lt::settings_pack::enable_incoming_utp, s.utp);
    sp.set_int(lt::settings_pack::download_rate_limit, s.download_rate_limit);
    sp.set_int(lt::settings_pack::upload_rate_limit, s.upload_rate_limit);
    sp.set_int(lt::settings_pack::connections_limit, s.connections_limit);
    sp.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, s.allow_multiple_connections_per_ip);
    sp.set_int(lt::settings_pack::stop_tracker_timeout, static_cast<int>(s.stop_tracker_timeout.count()));
    // Follow the tracker's interval (ours allows 10 s and up): libtorrent's
    // floor of 300 s would let a tracker with a shorter one expire us
    // between announces. The tracker knows our peer ids (-LM) for this.
    sp.set_int(lt::settings_pack::min_announce_interval, 10);
    // Loopback and LAN peers are the point: no local-peer rate limits, and
    // trackers on 127.0.0.1 are allowed when their path is /announce.
    sp.set_bool(lt::settings_pack::rate_limit_ip_overhead, false);
    sp.set_int(lt::settings_pack::alert_mask,
               static_cast<int>(static_cast<std::uint32_t>(lt::alert_category::status | lt::alert_category::error |
                                                           lt::alert_category::file_progress |
                                                           lt::alert_category::storage |
                                                           lt::alert_category::tracker |
                                                           (s.log_file.empty() ? lt::alert_category_t{}
                                                                               : lt::alert_category::connect |
                                                                                     lt::alert_category::peer))));
    sp.set_int(lt::settings_pack::alert_queue_size, 10000);
    // Bigger buffers for fast links (defaults are tuned for the internet).
    sp.set_int(lt::settings_pack::send_buffer_watermark, 4 * 1024 * 1024);
    sp.set_int(lt::settings_pack::max_queued_disk_bytes, 16 * 1024 * 1024);
    sp.set_int(lt::settings_pack::recv_socket_buffer_size, s.recv_socket_buffer);
    // Requests queued at a peer: one second of what it sends. A deeper
    // queue asks for pieces that were rarest seconds ago; by the time they
    // come, the swarm has them (bench/README.md, "Swarm").
    sp.set_int(lt::settings_pack::request_queue_time, 1);
    // The preset suggests the pieces in the read cache, which makes every
    // leecher ask a seeder for the same pieces; seeds suggest through
    // p2p/dispatch.hpp instead.
    sp.set_int(lt::settings_pack::suggest_mode, lt::settings_pack::no_piece_suggestions);
    sp.set_int(lt::settings_pack::max_out_request_queue, 1500);
    sp.set_int(lt::settings_pack::aio_threads, 4);
    sp.set_int(lt::settings_pack::hashing_threads, 2);
    sp.set_str(lt::settings_pack::user_agent, "llmpt/0.1");
    sp.set_str(lt::settings_pack::peer_fingerprint, "-LM0010-");
    if (const auto problems = apply_raw_settings(sp, s.libtorrent); !problems.empty())
        throw std::invalid_argument("LLMPT_LIBTORRENT_SETTINGS: " + problems.front());
    lt::session_params params(std::move(sp));
    switch (s.disk_io) {
    case DiskIo::pooled:
    case DiskIo::queued:
        registry_ = std::make_shared<StreamRegistry>();
        params.disk_io_constructor = pooled_disk_io(registry_, s.disk_io == DiskIo::queued);
        break;
    case DiskIo::posix: params.disk_io_constructor = lt::posix_disk_io_constructor; break;
    case DiskIo::mmap: break; // libtorrent's default
    }
    if (s.seed_dispatch) params.extensions.push_back(seed_dispatch());
    if (!s.log_file.empty()) log_ = std::fopen(s.log_file.c_str(), "a"); // a log that cannot open is no log
    ses_ = std::make_unique<lt::session>(std::move(params));
    // libtorrent puts LAN and loopback peers in a class of their own that
    // no rate limit touches; on a cluster every peer is one, so a limit the
    // user set would limit nothing. With a limit, LAN peers are in the
    // global class too (its rate limits apply) and stay in the local one
    // (always unchoked: a choked LAN peer stalls the swarm for a rotation).
    if (s.download_rate_limit > 0 || s.upload_rate_limit > 0) {
        const auto global = 1u << static_cast<std::uint32_t>(lt::session::global_peer_class_id);
        const auto both = global | 1u << static_cast<std::uint32_t>(lt::session::local_peer_class_id);
        lt::ip_filter classes;
        const auto v4 = [&](const char* first, const char* last, std::uint32_t flags) {
            classes.add_rule(lt::make_address_v4(first), lt::make_address_v4(last), flags);
        };
        const auto v6 = [&](const char* first, const char* last, std::uint32_t flags) {
            classes.add_rule(lt::make_address_v6(first), lt::make_address_v6(last), flags);
        };
        v4("0.0.0.0", "255.255.255.255", global);
        v4("10.0.0.0", "10.255.255.255", both);
        v4("172.16.0.0", "172.31.255.255", both);
        v4("192.168.0.0", "192.168.255.255", both);
        v4("169.254.0.0", "169.254.255.255", both);
        v4("127.0.0.0", "127.255.255.255", both);
        v6("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", global);
        v6("fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", both);
        v6("fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", both);
        v6("::1", "::1", both);
        ses_->set_peer_class_filter(classes);
    }
    // libtorrent calls this on its own thread when the alert queue turns
    // non-empty; it must not call back into the session.
    ses_->set_alert_notify([this] {
        {
            std::lock_guard lk(wake_mu_);
            alerts_pending_ = true;
        }
        wake_.notify_one();
    });
    alerts_ = std::thread([this] { alert_loop(); });
}

Session::~Session() {
    // A parked torrent nobody took over: removed like any other, so that its
    // tracker hears `stopped` after the `completed` it may still be sending.
    const auto parked = [&] {
        std::lock_guard lk(mu_);
        return std::exchange(parked_, {});
    }();
    for (const auto& [_, h] : parked) remove(h);
    {
        std::lock_guard lk(wake_mu_);
        stop_ = true;
    }
    wake_.notify_one();
    if (alerts_.joinable()) alerts_.join();
    // The notify callback may still run while the session shuts down below;
    // it only touches wake_mu_ and wake_, which outlive ses_.
    // abort() returns a proxy whose destructor waits for the network thread;
    // stop_tracker_timeout bounds the wait for tracker `stopped` announces.
    auto proxy = ses_->abort();
    ses_.reset();
    if (log_) std::fclose(log_);
}

Result<lt::torrent_handle> Session::add(lt::add_torrent_params params, EventFn on_alert,
                                        StreamRegistry::Streams streams, bool dispatch) {
    // Read by the dispatch plugin while add_torrent makes the torrent (it
    // returns after), never later.
    TorrentHints hints{params.ti ? params.ti->num_pieces() : 0, dispatch};
    params.userdata = lt::client_data_t(&hints);
    const auto hashes = params.ti ? params.ti->info_hashes() : params.info_hashes;
    const auto key = hashes.v2;
    auto listener = std::make_shared<Listener>();
    listener->fn = std::move(on_alert);
    {
        std::lock_guard lk(mu_);
        // A parked torrent is taken over as it is (its files, pieces and
        // peers); `params` describe the same torrent.
        if (const auto it = parked_.find(key); it != parked_.end()) {
            const auto h = it->second;
            parked_.erase(it);
            if (h.is_valid()) {
                by_torrent_[key] = std::move(listener);
                return h;
            }
        }
        by_torrent_[key] = std::move(listener);
    }
    // libtorrent names a storage by the torrent's best 20-byte hash (the
    // truncated v2 hash when there is one); the disk back end takes the
    // streams under it when the storage is made.
    const auto best = hashes.get_best();
    const std::string key20(best.data(), best.size());
    if (registry_ && !streams.empty()) registry_->put(key20, std::move(streams));
    lt::error_code ec;
    auto h = ses_->add_torrent(std::move(params), ec);
    if (registry_) registry_->drop(key20); // taken by now, or never to be
    if (ec) {
        std::lock_guard lk(mu_);
        by_torrent_.erase(key);
        return Error(errc::failure, "cannot add torrent: " + ec.message());
    }
    return h;
}

namespace {
// Whether an announce of `h` is waiting for the tracker's answer.
bool announcing(const lt::torrent_handle& h) {
    for (const auto& tracker : h.trackers())
        for (const auto& ep : tracker.endpoints)
            for (const auto& ih : ep.info_hashes)
                if (ih.updating) return true;
    return false;
}
} // namespace

// Waits (bounded: the tracker answers on a LAN in milliseconds) until no
// announce of `h` waits for the tracker's answer.
void Session::settle_announces(const lt::torrent_handle& h) {
    for (int i = 0; i < 100 && announcing(h); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void Session::park(const lt::torrent_handle& h) {
    if (!h.is_valid()) return;
    // The `completed` announce of a download that just finished lands
    // first (bounded), so that the tracker's counts no longer take this
    // machine for a leecher when the caller asks them.
    settle_announces(h);
    const auto key = h.info_hashes().v2;
    std::shared_ptr<Listener> listener;
    {
        std::lock_guard lk(mu_);
        if (auto it = by_torrent_.find(key); it != by_torrent_.end()) {
            listener = std::move(it->second);
            by_torrent_.erase(it);
        }
        parked_[key] = h;
    }
    if (listener) {
        std::lock_guard lk(listener->mu); // a call under way finishes first
        listener->fn = nullptr;
    }
}

void Session::remove(const lt::torrent_handle& h) {
    if (!h.is_valid()) return;
    {
        std::lock_guard lk(mu_);
        parked_.erase(h.info_hashes().v2);
    }
    // libtorrent sends no `stopped` for an endpoint whose announce (say the
    // `completed` of a download that just finished) is still in flight, and
    // the tracker would list us for two intervals: let it land first.
    settle_announces(h);
    std::shared_ptr<Listener> listener;
    {
        std::lock_guard lk(mu_);
        auto it = by_torrent_.find(h.info_hashes().v2);
        if (it != by_torrent_.end()) {
            listener = std::move(it->second);
            by_torrent_.erase(it);
        }
    }
    if (listener) {
        // A call under way finishes first; none starts after this.
        std::lock_guard lk(listener->mu);
        listener->fn = nullptr;
    }
    ses_->remove_torrent(h);
    // Until libtorrent has let go of it (bounded): its files are free then
    // (HTTP may take over a partial one), and its peer connections closed
    // (one still closing when the session ends holds that end up to
    // libtorrent's next internal tick, ~0.1 s).
    for (int i = 0; i < 1000 && h.is_valid(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

std::uint16_t Session::listen_port() const { return ses_->listen_port(); }

void Session::trace(std::string_view what, std::string_view message) {
    if (!log_) return;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    std::lock_guard lk(log_mu_);
    std::fprintf(log_, "%lld.%03lld %d %.*s: %.*s\n", static_cast<long long>(ms.count() / 1000),
                 static_cast<long long>(ms.count() % 1000), static_cast<int>(::getpid()),
                 static_cast<int>(what.size()), what.data(), static_cast<int>(message.size()), message.data());
    std::fflush(log_);
}

} // namespace llmpt::p2p

namespace llmpt {

Result<std::unique_ptr<Session>> Session::start(const Settings& settings) {
    try {
        return std::unique_ptr<Session>(std::make_unique<p2p::Session>(p2p::session_settings(settings)));
    } catch (const std::invalid_argument& e) {
        return Error(errc::usage, e.what());
    } catch (const std::exception& e) {
        return Error(errc::failure, std::string("cannot start the BitTorrent session: ") + e.what());
    }
}

} // namespace llmpt

namespace llmpt::p2p {

namespace {

std::optional<TorrentEvent> to_event(lt::alert* a) {
    using K = TorrentEvent::Kind;
    if (auto* fc = lt::alert_cast<lt::file_completed_alert>(a))
        return TorrentEvent{K::file_completed, static_cast<int>(fc->index), -1, {}};
    if (lt::alert_cast<lt::torrent_finished_alert>(a)) return TorrentEvent{K::finished, -1, -1, {}};
    if (lt::alert_cast<lt::torrent_checked_alert>(a)) return TorrentEvent{K::checked, -1, -1, {}};
    if (auto* te = lt::alert_cast<lt::torrent_error_alert>(a))
        return TorrentEvent{K::error, -1, -1, te->error.message()};
    // A listen socket that cannot reach the tracker (an IPv6 one and an IPv4
    // tracker, say) skips its announce; the others still announce.
    if (auto* tr = lt::alert_cast<lt::tracker_error_alert>(a); tr && tr->error == lt::errors::announce_skipped)
        return std::nullopt;
    if (auto* tr = lt::alert_cast<lt::tracker_error_alert>(a))
        return TorrentEvent{K::tracker_error, -1, -1,
                            std::string(tr->failure_reason()).empty() ? tr->error.message() : tr->failure_reason()};
    if (auto* hf = lt::alert_cast<lt::hash_failed_alert>(a))
        return TorrentEvent{K::hash_failed, -1, static_cast<int>(hf->piece_index), {}};
    return std::nullopt;
}

} // namespace

void Session::alert_loop() {
    std::vector<lt::alert*> alerts;
    while (true) {
        {
            // Woken by libtorrent's notify or by shutdown; the timeout is
            // only a safety net.
            std::unique_lock lk(wake_mu_);
            wake_.wait_for(lk, std::chrono::milliseconds(500), [&] { return alerts_pending_ || stop_; });
            if (stop_) return;
            alerts_pending_ = false;
        }
        ses_->pop_alerts(&alerts);
        for (auto* a : alerts) {
            if (log_) trace(a->what(), a->message());
            // alert_cast matches exact alert types only; torrent_alert is a base.
            auto* ta = dynamic_cast<lt::torrent_alert*>(a);
            if (!ta) continue;
            const auto ev = to_event(a);
            if (!ev) continue;
            std::shared_ptr<Listener> listener;
            {
                std::lock_guard lk(mu_);
                auto it = by_torrent_.find(ta->handle.info_hashes().v2);
                if (it != by_torrent_.end()) listener = it->second;
            }
            if (!listener) continue;
            std::lock_guard lk(listener->mu);
            if (listener->fn) listener->fn(*ev);
        }
    }
}

} // namespace llmpt::p2p
