#include "download/fallback.hpp"

#include <fmt/format.h>

namespace llmpt::fetch {

Fallback::Fallback(Options o, std::chrono::steady_clock::time_point start)
    : o_(o), start_(start), last_peer_(start), last_progress_(start) {}

Fallback::Action Fallback::decide(const SwarmView& v, std::string& why) {
    if (v.peers > 0) last_peer_ = v.now;
    if (v.progressed) last_progress_ = v.now;
    const bool some = v.left > 0 && v.unavailable > 0 && v.peers > 0;
    const bool all = some && v.unavailable >= v.left;
    if (some && !some_unavailable_) some_unavailable_since_ = v.now;
    if (all && !all_unavailable_) all_unavailable_since_ = v.now;
    some_unavailable_ = some;
    all_unavailable_ = all;
    if (web_seed_) return Action::none;

    const auto peer_grace = v.connecting > 0 ? o_.connect_grace : o_.no_peer_grace;
    if (v.peers == 0 && v.now - last_peer_ >= peer_grace) {
        why = "no peer answered for " + std::to_string(peer_grace.count() / 1000) + " s; HTTP takes over";
        return Action::hand_over;
    }
    // What is left, nobody connected has: the Hub's parallel HTTP is the
    // fastest way to it (a web seed is one connection per file).
    if (all && v.now - all_unavailable_since_ >= o_.unavailable_grace) {
        why = "no connected peer has the rest; HTTP takes over";
        return Action::hand_over;
    }
    if (!o_.web_seed_allowed) return Action::none;
    if (some && v.now - some_unavailable_since_ >= o_.web_seed_grace) {
        why = "no connected peer has some of the pieces: the Hub serves them as a web seed";
        web_seed_ = true;
        return Action::web_seed;
    }
    const auto quiet = v.now - last_progress_;
    if (v.peers > 0 && v.left > 0 && v.sending == 0 && quiet >= o_.stall_grace) {
        why = "the peers send nothing: the Hub helps as a web seed";
        web_seed_ = true;
        return Action::web_seed;
    }
    if (v.peers > 0 && v.left > 0 && quiet >= o_.quiet_grace) {
        why = fmt::format("the peers sent nothing for {} s: the Hub helps as a web seed", o_.quiet_grace.count() / 1000);
        web_seed_ = true;
        return Action::web_seed;
    }
    return Action::none;
}

} // namespace llmpt::fetch
