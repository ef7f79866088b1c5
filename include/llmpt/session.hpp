// The BitTorrent side of a process: one libtorrent session, with its listen
// socket, its peers and its disk back end. Downloads (llmpt::download) and
// seeders (llmpt::Seeder) run in a session that their caller creates and
// passes to them, so a process has exactly the sessions it asks for, with
// the settings it gave (the CLI makes one per command, the daemon one for
// all its seeds and tasks). Destroying it ends it, bounded: trackers get
// their `stopped` announces within a couple of seconds.
#pragma once

#include <llmpt/error.hpp>
#include <llmpt/settings.hpp>

#include <cstdint>
#include <memory>

namespace llmpt {

class Session {
public:
    // Listens on settings.p2p_listen (port 0: any free port) with the
    // p2p_* settings (uTP, DHT, LSD, UPnP, NAT-PMP, rate and connection
    // limits, disk back end).
    static Result<std::unique_ptr<Session>> start(const Settings& settings);
    virtual ~Session() = default;
    virtual std::uint16_t listen_port() const = 0;

protected:
    Session() = default;
};

} // namespace llmpt
