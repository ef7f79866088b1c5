#include "daemon/seeds.hpp"

#include <fmt/format.h>

#include <atomic>
#include <thread>

namespace llmpt::daemon {

namespace fs = std::filesystem;

namespace {

bool all_present(const cache::RepoCache& rc, const CommitId& c, const std::vector<cache::ManifestEntry>& files) {
    for (const auto& f : files)
        if (!rc.snapshot_has(c, f.path) || !rc.has_blob(f.etag, f.size)) return false;
    return !files.empty();
}

} // namespace

std::string Snapshot::name() const {
    return fmt::format("{} {}@{}", to_string(repo.type), repo.id.str(), commit.str());
}

std::optional<RepoRef> repo_of_folder(const std::string& name) {
    const auto sep = name.find("--");
    if (sep == std::string::npos) return std::nullopt;
    const auto kind = name.substr(0, sep);
    RepoType type;
    if (kind == "models") type = RepoType::model;
    else if (kind == "datasets") type = RepoType::dataset;
    else if (kind == "spaces") type = RepoType::space;
    else return std::nullopt;
    std::string id = name.substr(sep + 2);
    if (const auto org = id.find("--"); org != std::string::npos) id.replace(org, 2, "/");
    auto parsed = RepoId::parse(id);
    if (!parsed) return std::nullopt;
    RepoRef ref{type, *parsed};
    if (ref.folder_name() != name) return std::nullopt;
    return ref;
}

std::vector<FoundSnapshot> snapshots_of(const fs::path& cache) {
    std::vector<FoundSnapshot> out;
    std::error_code ec;
    for (const auto& repo_dir : fs::directory_iterator(cache, ec)) {
        const auto repo = repo_of_folder(repo_dir.path().filename().string());
        if (!repo) continue;
        const cache::RepoCache rc(cache, *repo);
        cache::sweep_staging(rc);
        std::error_code ec2;
        for (const auto& snap : fs::directory_iterator(repo_dir.path() / "snapshots", ec2)) {
            const auto commit = CommitId::parse(snap.path().filename().string());
            if (commit) out.push_back(FoundSnapshot{Snapshot{cache, *repo, *commit}, cache::read_manifest(rc, *commit)});
        }
    }
    return out;
}

Seeds::ScanResult Seeds::scan() {
    std::lock_guard scanning(scan_mu_);
    ScanResult r;
    std::map<std::string, Snapshot> found;
    std::set<std::string> seen;
    for (const auto& c : c_.caches)
        for (auto& f : snapshots_of(c)) {
            seen.insert(f.snap.key());
            const cache::RepoCache rc(f.snap.cache, f.snap.repo);
            if (!f.manifest && !(c_.busy && c_.busy(f.snap.cache, f.snap.repo))) f.manifest = listed_by_hub(f.snap);
            if (f.manifest && all_present(rc, f.snap.commit, *f.manifest)) found.emplace(f.snap.key(), f.snap);
        }
    std::erase_if(listed_, [&](const auto& kv) { return !seen.count(kv.first); });
    std::erase_if(partial_logged_, [&](const auto& k) { return !seen.count(k); });

    std::vector<Entry> gone;
    {
        std::lock_guard lk(mu_);
        for (auto it = seeds_.begin(); it != seeds_.end();) {
            const bool vanished = !found.count(it->first);
            if (vanished || !it->second.seeder->intact()) {
                log("stopped seeding " + it->second.snap.name() +
                    (vanished ? ": the snapshot is gone" : ": a blob changed since it was verified"));
                if (!vanished) retry_after_[it->first] = c_.now() + c_.retry_failed;
                gone.push_back(std::move(it->second));
                it = seeds_.erase(it);
                ++r.removed;
            } else {
                ++it;
            }
        }
    }
    for (auto& g : gone) g.seeder->stop();

    std::map<std::string, std::vector<const Snapshot*>> by_repo;
    for (const auto& [key, snap] : found) {
        {
            std::lock_guard lk(mu_);
            if (seeds_.count(key)) continue;
        }
        if (auto it = retry_after_.find(key); it != retry_after_.end() && c_.now() < it->second) continue;
        by_repo[snap.cache.string() + "|" + snap.repo.folder_name()].push_back(&snap);
    }
    std::vector<std::vector<const Snapshot*>> groups;
    for (auto& [_, g] : by_repo) groups.push_back(std::move(g));
    std::atomic<std::size_t> next{0};
    std::mutex counts_mu; // r and retry_after_, from the workers
    const auto work = [&] {
        for (auto i = next++; i < groups.size(); i = next++)
            for (const auto* snap : groups[i]) {
                const bool added = start_seed(*snap);
                std::lock_guard lk(counts_mu);
                if (added) {
                    retry_after_.erase(snap->key());
                    ++r.added;
                } else {
                    retry_after_[snap->key()] = c_.now() + c_.retry_failed;
                    ++r.failed;
                }
            }
    };
    const auto workers = std::min<std::size_t>(groups.size(), std::max(1u, std::thread::hardware_concurrency()));
    std::vector<std::thread> extra;
    for (std::size_t i = 1; i < workers; ++i) extra.emplace_back(work);
    work();
    for (auto& t : extra) t.join();
    return r;
}

void Seeds::maintain() {
    for (auto& [key, seed] : entries()) {
        const auto before = seed.seeder->publish_status();
        seed.seeder->maintain();
        const auto after = seed.seeder->publish_status();
        if (after.publish != before.publish || after.publishes != before.publishes)
            log("publish " + seed.snap.name() + ": " + after.publish +
                (after.publishes > 1 ? " (again: the tracker had lost it)" : ""));
    }
}

std::size_t Seeds::size() const {
    std::lock_guard lk(mu_);
    return seeds_.size();
}

std::map<std::string, Seeds::Entry> Seeds::entries() const {
    std::lock_guard lk(mu_);
    return seeds_;
}

void Seeds::stop_all() {
    std::map<std::string, Entry> all;
    {
        std::lock_guard lk(mu_);
        all.swap(seeds_);
    }
    for (auto& [_, s] : all) s.seeder->stop();
}

bool Seeds::start_seed(const Snapshot& snap) {
    auto seeder = c_.start_seeder(snap);
    if (!seeder) {
        log("cannot seed " + snap.name() + ": " + seeder.error().what());
        return false;
    }
    const auto st = (*seeder)->status();
    log(fmt::format("seeding {} info_hash {} ({} files, {} bytes hashed now) publish {}", snap.name(), st.info_hash.v2(),
                    st.files, st.hashed_now, st.publish));
    std::lock_guard lk(mu_);
    seeds_.emplace(snap.key(), Entry{snap, std::shared_ptr<Seeder>(std::move(*seeder))});
    return true;
}

// A commit's files never change, so the Hub is asked once per snapshot; a
// partial snapshot (allow_patterns) is not seeded and said so once. Runs on
// the scan thread (scan_mu_ held).
std::optional<std::vector<cache::ManifestEntry>> Seeds::listed_by_hub(const Snapshot& snap) {
    const auto key = snap.key();
    auto it = listed_.find(key);
    if (it == listed_.end()) {
        if (auto r = retry_after_.find("list|" + key); r != retry_after_.end() && c_.now() < r->second)
            return std::nullopt;
        auto files = c_.list_files(snap);
        if (!files) {
            log("cannot list " + snap.name() + " on the Hub (" + c_.hub + "): " + files.error().what() +
                "; not seeding it");
            retry_after_["list|" + key] =
                c_.now() + (files.error().code == errc::not_found ? c_.retry_unlisted : c_.retry_failed);
            return std::nullopt;
        }
        it = listed_.emplace(key, std::move(*files)).first;
    }
    const cache::RepoCache rc(snap.cache, snap.repo);
    if (!all_present(rc, snap.commit, it->second)) {
        if (partial_logged_.insert(key).second)
            log(fmt::format("not seeding {}: only part of the commit's {} files is in the cache", snap.name(),
                            it->second.size()));
        return std::nullopt;
    }
    if (auto st = cache::write_manifest(rc, snap.commit, it->second); !st)
        log("cannot write the manifest of " + snap.name() + ": " + st.error().what());
    else
        log(fmt::format("listed {} on the Hub: all {} files are here", snap.name(), it->second.size()));
    partial_logged_.erase(key);
    auto out = std::move(it->second);
    listed_.erase(it);
    return out;
}

} // namespace llmpt::daemon
