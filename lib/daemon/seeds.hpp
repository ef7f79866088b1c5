// daemon/seeds: what the daemon seeds. A scan walks the caches for complete
// snapshots (by the commit's manifest; a snapshot without one, written by
// huggingface_hub or copied in, is listed by the Hub once), verifies and
// seeds what is new, stops what is gone or whose blobs changed, and waits
// five minutes before trying a failed one again. maintain() retries and
// repeats publishes. The outside world (the Hub's listing, starting a
// seeder, whether a task is downloading into a repo, the log) comes in
// through Config, so the decisions are unit-tested with fakes.
#pragma once

#include <llmpt/repo.hpp>
#include <llmpt/seed.hpp>

#include "cache/layout.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace llmpt::daemon {

// A snapshot of a cache: one commit of one repo.
struct Snapshot {
    std::filesystem::path cache;
    RepoRef repo;
    CommitId commit;
    std::string key() const { return cache.string() + "|" + repo.folder_name() + "|" + commit.str(); }
    std::string name() const; // "model org/name@commit", for the log
};

// "models--org--name" → the repo it caches; nullopt for any other folder.
std::optional<RepoRef> repo_of_folder(const std::string& name);

// Every snapshot folder of `cache`, with the manifest llmpt wrote for it
// (the commit's complete file list) if any. Each repo's staging is swept
// on the way (cache::sweep_staging), so no link there outlives a blob the
// user deleted.
struct FoundSnapshot {
    Snapshot snap;
    std::optional<std::vector<cache::ManifestEntry>> manifest;
};
std::vector<FoundSnapshot> snapshots_of(const std::filesystem::path& cache);

class Seeds {
public:
    struct Config {
        std::vector<std::filesystem::path> caches;
        // The commit's files as the Hub lists them (errc::not_found: the Hub
        // does not know the commit).
        std::function<Result<std::vector<cache::ManifestEntry>>(const Snapshot&)> list_files;
        // Verifies the snapshot's blobs and starts seeding it (Seeder::start).
        std::function<Result<std::unique_ptr<Seeder>>(const Snapshot&)> start_seeder;
        // A download task is writing into this repo of this cache: its
        // snapshot gets a manifest when the task ends.
        std::function<bool(const std::filesystem::path&, const RepoRef&)> busy;
        std::function<void(const std::string&)> log;
        std::string hub; // the Hub's address, for the log
        std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
        std::chrono::minutes retry_failed{5};   // a snapshot that failed to seed
        std::chrono::minutes retry_unlisted{60}; // a commit the Hub does not know
    };
    struct ScanResult {
        int added = 0, removed = 0, failed = 0;
    };
    struct Entry {
        Snapshot snap;
        std::shared_ptr<Seeder> seeder;
    };

    explicit Seeds(Config config) : c_(std::move(config)) {}
    ~Seeds() { stop_all(); }
    Seeds(const Seeds&) = delete;
    Seeds& operator=(const Seeds&) = delete;

    // Seeds what is new, stops what is gone or changed. One scan at a time;
    // new snapshots are verified in parallel, a repo per worker.
    ScanResult scan();
    // Seeder::maintain() of each (publish retries, republishing), outside
    // the lock; a changed publish outcome is logged.
    void maintain();
    std::size_t size() const;
    // A copy: its seeders may be asked for their status without the lock.
    std::map<std::string, Entry> entries() const;
    void stop_all();

private:
    std::optional<std::vector<cache::ManifestEntry>> listed_by_hub(const Snapshot& snap);
    bool start_seed(const Snapshot& snap);
    void log(const std::string& line) const {
        if (c_.log) c_.log(line);
    }

    const Config c_;
    mutable std::mutex mu_; // seeds_
    std::map<std::string, Entry> seeds_;
    std::mutex scan_mu_; // one scan at a time; guards retry_after_, listed_, partial_logged_
    std::map<std::string, std::chrono::steady_clock::time_point> retry_after_;
    std::map<std::string, std::vector<cache::ManifestEntry>> listed_; // by the Hub, for snapshots without a manifest
    std::set<std::string> partial_logged_;
};

} // namespace llmpt::daemon
