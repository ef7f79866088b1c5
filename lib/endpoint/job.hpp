// endpoint/job: one snapshot (cache repo folder + commit) that download
// tasks fetch for the HF endpoint's clients (endpoint/endpoint.hpp). Each
// task covers a Selection (endpoint/policy.hpp) and is a slot here; its
// FileWatch tells the job where each file's bytes are, and streams ask.
// One task of a snapshot runs at a time (its torrent is in the session
// once): a slot asked for while another runs starts when that one ends.
#pragma once

#include "endpoint/policy.hpp"

#include <llmpt/error.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace llmpt::endpoint {

class Job : public std::enable_shared_from_this<Job> {
public:
    struct Source {
        std::filesystem::path file;           // where the bytes are (empty: none yet)
        std::uint64_t prefix = 0;
        bool placed = false;     // verified and in place: `file` is the final file
        bool alive = false;      // a running task still covers the file
    };

    Source source(const std::string& path) const {
        std::lock_guard lk(mu_);
        Source s;
        for (const auto& slot : slots_) s.alive = s.alive || (!slot.ended && slot.sel.covers(path));
        if (const auto it = files_.find(path); it != files_.end()) {
            if (!it->second.placed.empty()) {
                s.file = it->second.placed;
                s.placed = true;
            } else {
                s.file = it->second.file;
                s.prefix = it->second.prefix;
            }
        }
        return s;
    }

    // Starts the task of a slot (submits it with a FileWatch that reports to
    // this job); false if it could not be started.
    using Starter = std::function<bool(const std::shared_ptr<Job>& self, std::size_t slot, const Selection& sel)>;
    // Told the branches and tags clients named once a task ends well: the
    // cache's refs/ then say what the Hub said they point at.
    using Finisher = std::function<void(const std::set<std::string>& refs)>;
    Job(Starter start, Finisher finish) : start_(std::move(start)), finish_(std::move(finish)) {}

    // Makes sure a task covers `path`: a new slot unless one does. One task
    // of a snapshot runs at a time (its torrent is in the session once), so
    // a slot waits while another runs and starts when it ends.
    Status cover(const std::string& path, const std::string& revision) {
        std::optional<std::pair<std::size_t, Selection>> now;
        {
            std::lock_guard lk(mu_);
            if (!pinned_revision(revision)) refs_.insert(revision);
            for (const auto& slot : slots_)
                if (!slot.ended && slot.sel.covers(path)) return ok();
            const bool busy = std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.started && !s.ended; });
            slots_.push_back(Slot{selection_for(path, formats_), false, !busy});
            if (!busy) now.emplace(slots_.size() - 1, slots_.back().sel);
        }
        if (now && !start_(shared_from_this(), now->first, now->second)) {
            slot_ended(now->first);
            return Error(errc::failure, "the download task could not be started");
        }
        return ok();
    }
    // The slot's task ended: the next waiting slot starts.
    void slot_ended(std::size_t i, bool ok = false) {
        std::optional<std::pair<std::size_t, Selection>> next;
        std::set<std::string> refs;
        {
            std::lock_guard lk(mu_);
            slots_.at(i).ended = true;
            if (ok) refs.swap(refs_);
            for (std::size_t j = 0; j < slots_.size() && !next; ++j)
                if (!slots_[j].started && !slots_[j].ended) {
                    slots_[j].started = true;
                    next.emplace(j, slots_[j].sel);
                }
        }
        if (!refs.empty()) finish_(refs);
        if (next && !start_(shared_from_this(), next->first, next->second)) slot_ended(next->first);
    }
    // The snapshot's file list, as a client fetched it: what a task of a
    // file that is no weight takes with it (selection_for).
    void note_listing(const std::vector<std::string>& paths) {
        auto formats = weight_formats(paths);
        std::lock_guard lk(mu_);
        formats_ = std::move(formats);
    }
    // A branch or tag the Hub said points at this job's commit.
    void note_ref(const std::string& revision) {
        std::lock_guard lk(mu_);
        if (!pinned_revision(revision)) refs_.insert(revision);
    }
    // A task runs or waits for it.
    bool running() const {
        std::lock_guard lk(mu_);
        for (const auto& slot : slots_)
            if (!slot.ended) return true;
        return false;
    }
    // Nothing runs and nothing is left to tell or remember: the job may be forgotten.
    bool idle() const {
        std::lock_guard lk(mu_);
        for (const auto& slot : slots_)
            if (!slot.ended) return false;
        return refs_.empty() && !formats_;
    }

    void progress(const std::string& path, const std::filesystem::path& file, std::uint64_t prefix) {
        std::lock_guard lk(mu_);
        auto& f = files_[path];
        f.file = file;
        f.prefix = prefix;
    }
    void placed(const std::string& path, const std::filesystem::path& where) {
        std::lock_guard lk(mu_);
        files_[path].placed = where;
    }

    // Where parked streams of this job wait (FileWatch::waiting).
    void waiting_at(const std::string& path, std::optional<std::uint64_t> offset) {
        std::lock_guard lk(mu_);
        if (offset) waiting_[path] = *offset;
        else waiting_.erase(path);
    }
    std::vector<std::pair<std::string, std::uint64_t>> waiting() const {
        std::lock_guard lk(mu_);
        return {waiting_.begin(), waiting_.end()};
    }

private:
    struct Slot {
        Selection sel;
        bool ended = false;
        bool started = false;
    };
    const Starter start_;
    const Finisher finish_;
    std::set<std::string> refs_;
    std::optional<std::set<std::string>> formats_; // the snapshot's weight formats, once listed
    struct FileState {
        std::filesystem::path file, placed;
        std::uint64_t prefix = 0;
    };
    mutable std::mutex mu_;
    std::vector<Slot> slots_;
    std::map<std::string, FileState> files_;
    std::map<std::string, std::uint64_t> waiting_;
};


} // namespace llmpt::endpoint
