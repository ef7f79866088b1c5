#include "tracker/server/cohort.hpp"

#include "torrent/inspect.hpp"
#include "util/hash.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>

namespace llmpt::tracker {

using cohort::State;

namespace {

std::string random_id() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::string raw(16, '\0');
    for (auto& c : raw) c = static_cast<char>(rng() & 0xff);
    return util::to_hex(raw);
}

bool same_files(std::vector<cohort::File> a, std::vector<cohort::File> b) {
    const auto by_path = [](const cohort::File& x, const cohort::File& y) { return x.path < y.path; };
    std::sort(a.begin(), a.end(), by_path);
    std::sort(b.begin(), b.end(), by_path);
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const auto& x, const auto& y) { return x.path == y.path && x.size == y.size; });
}

} // namespace

CohortStore::CohortStore(Options o) : o_(o) {}

std::string CohortStore::key(const std::string& repo_type, const std::string& repo_id, const std::string& revision) {
    return repo_type + ":" + repo_id + "@" + revision;
}

CohortStore::Cohort CohortStore::make(const cohort::JoinRequest& req, Clock::time_point now) {
    Cohort c;
    c.id = random_id();
    c.key = key(req.repo_type, req.repo_id, req.revision);
    c.repo_type = req.repo_type;
    c.repo_id = req.repo_id;
    c.revision = req.revision;
    c.tracker = req.tracker;
    c.files = req.files;
    std::sort(c.files.begin(), c.files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    std::uint64_t total = 0;
    for (const auto& f : c.files) total += f.size;
    c.piece_length = torrent::piece_length_for(total);
    const auto pl = c.piece_length;
    // Chunks of whole pieces, about target_chunks of them, at most max_chunk.
    const auto per_target = (total / std::max<std::uint64_t>(o_.target_chunks, 1) + pl - 1) / pl;
    const auto chunk_pieces = std::clamp<std::uint64_t>(per_target, 1, std::max<std::uint64_t>(o_.max_chunk / pl, 1));
    c.layers.resize(c.files.size());
    for (std::size_t i = 0; i < c.files.size(); ++i) {
        const auto& f = c.files[i];
        const auto n = torrent::pieces_in(f.size, pl);
        c.layers[i].resize(n);
        for (std::uint64_t first = 0; first < n; first += chunk_pieces) {
            ChunkState s;
            s.file = i;
            s.chunk.path = f.path;
            s.chunk.first_piece = first;
            s.chunk.pieces = std::min(chunk_pieces, n - first);
            s.chunk.offset = first * pl;
            s.chunk.length = std::min(f.size, (first + s.chunk.pieces) * pl) - s.chunk.offset;
            c.chunks.push_back(std::move(s));
        }
    }
    // Largest first: the long fetches start early, the short ones fill in.
    std::stable_sort(c.chunks.begin(), c.chunks.end(),
                     [](const auto& a, const auto& b) { return a.chunk.length > b.chunk.length; });
    c.remaining = c.chunks.size();
    c.touched = now;
    return c;
}

bool CohortStore::lapsed(const Cohort& c, const std::string& holder, Clock::time_point now) const {
    const auto it = c.members.find(holder);
    return it == c.members.end() || now - it->second.seen > o_.lease;
}

cohort::Answer CohortStore::answer(const Cohort& c) const {
    cohort::Answer a;
    a.state = c.state;
    a.lease_seconds = static_cast<int>(o_.lease.count());
    a.remaining = c.remaining;
    a.members = c.members.size();
    a.info_hash = c.info_hash;
    a.error = c.error;
    return a;
}

Outcome<cohort::Answer> CohortStore::join(const cohort::JoinRequest& req, Clock::time_point now) {
    std::lock_guard lk(mu_);
    const auto k = key(req.repo_type, req.repo_id, req.revision);
    Cohort* c = nullptr;
    if (const auto it = by_key_.find(k); it != by_key_.end()) {
        c = &by_id_.at(it->second);
        if (!same_files(c->files, req.files))
            return Refusal{409, "the cohort of this revision has another file list"};
        if (c->members.size() >= o_.max_members) return Refusal{503, "the cohort is full"};
    } else {
        std::uint64_t total = 0;
        for (const auto& f : req.files) total += f.size;
        if (total == 0) return Refusal{400, "files: every file is empty; there is nothing to share"};
        if (by_id_.size() >= o_.max_cohorts) return Refusal{503, "too many cohorts; try again later"};
        auto made = make(req, now);
        by_key_[k] = made.id;
        c = &by_id_.emplace(made.id, std::move(made)).first->second;
    }
    const auto member = random_id();
    c->members[member] = Member{now};
    c->touched = now;
    auto a = answer(*c);
    a.cohort = c->id;
    a.member = member;
    a.piece_length = c->piece_length;
    return a;
}

CohortStore::Cohort* CohortStore::find(const std::string& id, const std::string& member, Clock::time_point now) {
    const auto it = by_id_.find(id);
    if (it == by_id_.end()) return nullptr;
    auto& c = it->second;
    const auto m = c.members.find(member);
    if (m == c.members.end()) return nullptr;
    m->second.seen = now;
    if (c.state == State::fetching) c.touched = now;
    return &c;
}

Outcome<cohort::Answer> CohortStore::lease(const cohort::LeaseRequest& req, Clock::time_point now) {
    std::lock_guard lk(mu_);
    auto* c = find(req.cohort, req.member, now);
    if (!c) return Refusal{404, "unknown cohort or member (the tracker may have restarted)"};
    auto a = answer(*c);
    if (c->state != State::fetching || !req.want) return a;
    for (auto& s : c->chunks) {
        if (s.reported || (!s.holder.empty() && s.holder != req.member && !lapsed(*c, s.holder, now))) continue;
        if (s.holder == req.member) continue; // already fetching it
        s.holder = req.member;
        a.chunk = s.chunk;
        break;
    }
    return a;
}

Outcome<CohortStore::Reported> CohortStore::report(const cohort::ReportRequest& req, Clock::time_point now) {
    std::lock_guard lk(mu_);
    auto* c = find(req.cohort, req.member, now);
    if (!c) return Refusal{404, "unknown cohort or member (the tracker may have restarted)"};
    Reported r;
    if (c->state != State::fetching) {
        r.answer = answer(*c);
        return r;
    }
    const auto s = std::find_if(c->chunks.begin(), c->chunks.end(), [&](const ChunkState& x) {
        return x.chunk.path == req.path && x.chunk.first_piece == req.first_piece;
    });
    if (s == c->chunks.end()) return Refusal{400, "path, first_piece: not a chunk of this cohort"};
    if (req.hashes.size() != s->chunk.pieces)
        return Refusal{400, fmt::format("hashes: the chunk has {} pieces, not {}", s->chunk.pieces,
                                        req.hashes.size())};
    if (!s->reported) {
        std::copy(req.hashes.begin(), req.hashes.end(),
                  c->layers[s->file].begin() + static_cast<std::ptrdiff_t>(s->chunk.first_piece));
        s->reported = true;
        s->holder.clear();
        --c->remaining;
    }
    if (c->remaining == 0) c->state = State::assembling;
    if (c->state == State::assembling) {
        std::vector<torrent::FilePart> parts;
        parts.reserve(c->files.size());
        for (std::size_t i = 0; i < c->files.size(); ++i)
            parts.push_back(torrent::FilePart{c->files[i].path, c->files[i].size, c->layers[i], {}});
        r.parts = std::move(parts);
        r.revision = c->revision;
        r.repo_type = c->repo_type;
        r.repo_id = c->repo_id;
        r.tracker = c->tracker;
    }
    r.answer = answer(*c);
    return r;
}

void CohortStore::published(const std::string& id, const std::string& info_hash, Clock::time_point now) {
    std::lock_guard lk(mu_);
    if (auto it = by_id_.find(id); it != by_id_.end()) {
        it->second.state = State::published;
        it->second.info_hash = info_hash;
        it->second.touched = now;
    }
}

void CohortStore::failed(const std::string& id, const std::string& why, Clock::time_point now) {
    std::lock_guard lk(mu_);
    if (auto it = by_id_.find(id); it != by_id_.end()) {
        it->second.state = State::failed;
        it->second.error = why;
        it->second.touched = now;
    }
}

std::size_t CohortStore::expire(Clock::time_point now) {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (auto it = by_id_.begin(); it != by_id_.end();) {
        if (now - it->second.touched > o_.idle) {
            by_key_.erase(it->second.key);
            it = by_id_.erase(it);
            ++n;
        } else {
            ++it;
        }
    }
    return n;
}

std::size_t CohortStore::size() const {
    std::lock_guard lk(mu_);
    return by_id_.size();
}

} // namespace llmpt::tracker
