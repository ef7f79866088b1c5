#include "p2p/dispatch.hpp"

#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_request.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_status.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <vector>

namespace llmpt::p2p {

namespace lt = libtorrent;
using Clock = std::chrono::steady_clock;

void DispatchLedger::on_have(int piece, Clock::time_point now) {
    if (!serving_.erase(piece)) last_from_others_ = now;
    refused_.erase(piece);
}

int DispatchOptions::ahead_per_peer(int leeching) const {
    if (leeching <= 1) return std::numeric_limits<int>::max();
    return std::clamp((pieces_in_flight + leeching / 2) / leeching, 1, max_ahead_per_peer);
}

bool DispatchLedger::serve(const DispatchOptions& o, const RequestFacts& r, Clock::time_point now) {
    if (!r.fast || serving_.count(r.piece)) return true;
    if (static_cast<int>(serving_.size()) >= o.ahead_per_peer(r.leeching)) return false;
    const auto it = refused_.try_emplace(r.piece, now).first;
    const bool starving = now - last_from_others_ >= o.starving_after && now - last_rescue_ >= o.starving_after;
    if (r.elsewhere && now - it->second < o.give_up_refusing && !starving) return false;
    if (r.elsewhere && starving) last_rescue_ = now;
    refused_.erase(it);
    serving_.insert(r.piece);
    return true;
}

namespace {

class TorrentDispatch;

// BitTorrent messages the plugin writes itself (the connection encrypts them
// like any other).
void put32(char* at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) at[i] = static_cast<char>(v >> (24 - 8 * i));
}

class PeerDispatch final : public lt::peer_plugin {
public:
    PeerDispatch(lt::peer_connection_handle pc, std::shared_ptr<TorrentDispatch> torrent)
        : pc_(std::move(pc)), torrent_(std::move(torrent)), ledger_(Clock::now()) {}

    lt::string_view type() const override { return "llmpt_dispatch"; }
    // The reserved bits of the BitTorrent handshake: 0x04 of the last byte
    // is the fast extension, which a reject needs.
    bool on_handshake(lt::span<char const> reserved) override {
        fast_ = reserved.size() >= 8 && (reserved[7] & 0x04) != 0;
        return true;
    }
    bool on_have(lt::piece_index_t p) override {
        ledger_.on_have(static_cast<int>(p), Clock::now());
        return false;
    }
    bool on_request(lt::peer_request const& r) override;

    bool has_piece(int p) const { return !pc_.is_disconnecting() && pc_.has_piece(lt::piece_index_t(p)); }
    bool leeching() const { return !pc_.is_disconnecting() && !pc_.is_seed(); }

private:
    friend class TorrentDispatch;
    void reject(lt::peer_request const& r) {
        // reject_request (BEP 6): length 13, id 16, index, begin, length.
        std::array<char, 17> msg{};
        put32(msg.data(), 13);
        msg[4] = 16;
        put32(msg.data() + 5, static_cast<std::uint32_t>(static_cast<int>(r.piece)));
        put32(msg.data() + 9, static_cast<std::uint32_t>(r.start));
        put32(msg.data() + 13, static_cast<std::uint32_t>(r.length));
        pc_.send_buffer(msg.data(), static_cast<int>(msg.size()));
    }
    lt::peer_connection_handle pc_;
    std::shared_ptr<TorrentDispatch> torrent_;
    bool fast_ = false;
    DispatchLedger ledger_;
};

class TorrentDispatch final : public lt::torrent_plugin, public std::enable_shared_from_this<TorrentDispatch> {
public:
    explicit TorrentDispatch(DispatchOptions o) : o_(o) {}

    std::shared_ptr<lt::peer_plugin> new_connection(lt::peer_connection_handle const& pc) override {
        if (pc.type() != lt::connection_type::bittorrent) return nullptr;
        auto p = std::make_shared<PeerDispatch>(pc, shared_from_this());
        std::erase_if(peers_, [](const auto& w) { return w.expired(); });
        peers_.push_back(p);
        return p;
    }
    void on_state(lt::torrent_status::state_t s) override { seeding_ = s == lt::torrent_status::seeding; }

    // Connected peers that want pieces of us, `peer` counted.
    int leeching(const PeerDispatch& peer) const {
        return 1 + static_cast<int>(std::count_if(peers_.begin(), peers_.end(), [&](const auto& w) {
                   const auto other = w.lock();
                   return other && other.get() != &peer && other->leeching();
               }));
    }

    // Whether another connected peer has `piece`, or it is on its way to one.
    bool elsewhere(const PeerDispatch& peer, int piece, Clock::time_point now) const {
        if (auto it = last_sent_.find(piece);
            it != last_sent_.end() && it->second.to != &peer && now - it->second.at < o_.in_flight)
            return true;
        for (const auto& w : peers_) {
            const auto other = w.lock();
            if (other && other.get() != &peer && other->has_piece(piece)) return true;
        }
        return false;
    }

    // Whether `peer`'s request is refused (true: a reject was sent).
    bool refuse(PeerDispatch& peer, lt::peer_request const& r) {
        if (!seeding_) return false;
        const int piece = static_cast<int>(r.piece);
        const auto now = Clock::now();
        const RequestFacts facts{piece, peer.fast_, elsewhere(peer, piece, now), leeching(peer)};
        if (peer.ledger_.serve(o_, facts, now)) {
            last_sent_[piece] = Sent{now, &peer};
            return false;
        }
        peer.reject(r);
        return true;
    }

private:
    struct Sent {
        Clock::time_point at;
        const PeerDispatch* to;
    };
    DispatchOptions o_;
    bool seeding_ = false;
    std::vector<std::weak_ptr<PeerDispatch>> peers_;
    std::unordered_map<int, Sent> last_sent_;
};

bool PeerDispatch::on_request(lt::peer_request const& r) { return torrent_->refuse(*this, r); }

class Dispatch final : public lt::plugin {
public:
    explicit Dispatch(DispatchOptions o) : o_(o) {}
    std::shared_ptr<lt::torrent_plugin> new_torrent(lt::torrent_handle const&, lt::client_data_t data) override {
        const auto* hints = data.get<TorrentHints>();
        if (!hints || !hints->dispatch) return nullptr;
        return std::make_shared<TorrentDispatch>(o_);
    }

private:
    DispatchOptions o_;
};

} // namespace

std::shared_ptr<lt::plugin> seed_dispatch(DispatchOptions options) { return std::make_shared<Dispatch>(options); }

} // namespace llmpt::p2p
