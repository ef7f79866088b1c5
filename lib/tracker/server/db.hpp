// The tracker's SQLite storage (one file, WAL): torrents with their files and
// raw bytes, completed counts, and the publish audit log. One connection,
// serialized by a mutex: every statement here is an indexed point query.
#pragma once

#include <llmpt/error.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace llmpt::tracker {

struct FileRow {
    std::string path;
    std::uint64_t size = 0;
};

struct TorrentRow {
    std::int64_t id = 0;
    std::string repo_type, repo_id, revision, name;
    std::string info_hash, info_hash_v1, announce_key; // hex
    std::uint64_t total_size = 0, file_count = 0, piece_length = 0;
    std::string created_at;
    std::uint64_t completed = 0;
    std::vector<FileRow> files;
};

struct AuditRow {
    std::string remote, token_id, repo_type, repo_id, revision, info_hash;
    int status = 0;
    std::string detail;
};

class Db {
public:
    static Result<std::unique_ptr<Db>> open(const std::filesystem::path& path);
    ~Db();

    // Inserts a torrent and returns its id; nullopt if (type, repo,
    // revision) or the info hash exists already.
    Result<std::optional<std::int64_t>> insert(const TorrentRow& row, const std::string& torrent_data);
    // Puts `row` in the place of torrent `old_id` (same revision): its
    // files, bytes and counts go, in one transaction.
    Result<std::int64_t> replace(std::int64_t old_id, const TorrentRow& row, const std::string& torrent_data);
    std::optional<TorrentRow> find(const std::string& type, const std::string& repo, const std::string& revision,
                                   bool with_files);
    std::vector<TorrentRow> list(const std::string& type, const std::string& repo, std::size_t limit);
    std::optional<std::string> torrent_data(const std::string& type, const std::string& repo,
                                            const std::string& revision);
    // Every torrent's id, hashes and completed count (to rebuild the swarm index at start).
    std::vector<TorrentRow> all_keys();
    void add_completed(std::int64_t id, std::uint64_t n);
    void audit(const AuditRow& row);
    std::size_t audit_count();

private:
    Db() = default;
    Status exec(const char* sql);
    sqlite3_stmt* prepare(const char* sql);
    void load_files(TorrentRow& row);
    // The insert of insert() and replace(), inside their transaction.
    Result<std::optional<std::int64_t>> insert_locked(const TorrentRow& row, const std::string& torrent_data);

    std::mutex mu_;
    sqlite3* db_ = nullptr;
    std::vector<sqlite3_stmt*> stmts_;
};

} // namespace llmpt::tracker
