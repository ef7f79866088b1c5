#include "tracker/server/db.hpp"

#include "util/time.hpp"

#include <sqlite3.h>

#include <ctime>

namespace llmpt::tracker {

namespace {

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS torrents (
    id INTEGER PRIMARY KEY,
    repo_type TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    revision TEXT NOT NULL,
    name TEXT NOT NULL,
    info_hash TEXT NOT NULL UNIQUE,
    info_hash_v1 TEXT,
    announce_key TEXT NOT NULL UNIQUE,
    total_size INTEGER NOT NULL,
    file_count INTEGER NOT NULL,
    piece_length INTEGER NOT NULL,
    torrent_data BLOB NOT NULL,
    created_at TEXT NOT NULL,
    completed INTEGER NOT NULL DEFAULT 0,
    UNIQUE (repo_type, repo_id, revision)
);
CREATE INDEX IF NOT EXISTS torrents_repo ON torrents (repo_type, repo_id);
CREATE TABLE IF NOT EXISTS files (
    torrent_id INTEGER NOT NULL REFERENCES torrents(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (torrent_id, idx)
);
CREATE TABLE IF NOT EXISTS publish_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    remote TEXT NOT NULL,
    token_id TEXT,
    repo_type TEXT, repo_id TEXT, revision TEXT, info_hash TEXT,
    status INTEGER NOT NULL,
    detail TEXT
);
)sql";

std::string now_iso() { return util::utc_timestamp(); }

// Statement with reset-on-scope-exit; bind helpers.
struct Stmt {
    sqlite3_stmt* s;
    explicit Stmt(sqlite3_stmt* st) : s(st) {}
    ~Stmt() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    Stmt& text(int i, const std::string& v) {
        sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& integer(int i, std::int64_t v) {
        sqlite3_bind_int64(s, i, v);
        return *this;
    }
    Stmt& blob(int i, const std::string& v) {
        sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    bool row() { return sqlite3_step(s) == SQLITE_ROW; }
    int step() { return sqlite3_step(s); }
    std::string col_text(int i) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
    }
    std::int64_t col_int(int i) { return sqlite3_column_int64(s, i); }
    std::string col_blob(int i) {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(s, i));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
    }
};

constexpr const char* kColumns =
    "id, repo_type, repo_id, revision, name, info_hash, info_hash_v1, announce_key, total_size, file_count, "
    "piece_length, created_at, completed";

TorrentRow read_row(Stmt& st) {
    TorrentRow r;
    r.id = st.col_int(0);
    r.repo_type = st.col_text(1);
    r.repo_id = st.col_text(2);
    r.revision = st.col_text(3);
    r.name = st.col_text(4);
    r.info_hash = st.col_text(5);
    r.info_hash_v1 = st.col_text(6);
    r.announce_key = st.col_text(7);
    r.total_size = static_cast<std::uint64_t>(st.col_int(8));
    r.file_count = static_cast<std::uint64_t>(st.col_int(9));
    r.piece_length = static_cast<std::uint64_t>(st.col_int(10));
    r.created_at = st.col_text(11);
    r.completed = static_cast<std::uint64_t>(st.col_int(12));
    return r;
}

} // namespace

Result<std::unique_ptr<Db>> Db::open(const std::filesystem::path& path) {
    std::unique_ptr<Db> db(new Db());
    if (sqlite3_open_v2(path.c_str(), &db->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK)
        return Error(errc::disk, std::string("cannot open database: ") + sqlite3_errmsg(db->db_), path.string());
    sqlite3_busy_timeout(db->db_, 5000);
    if (auto st = db->exec(kSchema); !st) return st.error();
    return db;
}

Db::~Db() {
    for (auto* s : stmts_) sqlite3_finalize(s);
    sqlite3_close(db_);
}

Status Db::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "sqlite error";
        sqlite3_free(err);
        return Error(errc::failure, "database: " + msg);
    }
    return ok();
}

// Statements are prepared once and cached by their text's address.
sqlite3_stmt* Db::prepare(const char* sql) {
    for (auto* s : stmts_)
        if (sqlite3_sql(s) == sql || std::string_view(sqlite3_sql(s)) == sql) return s;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
        throw std::logic_error(std::string("bad SQL: ") + sqlite3_errmsg(db_));
    stmts_.push_back(s);
    return s;
}

Result<std::optional<std::int64_t>> Db::insert_locked(const TorrentRow& r, const std::string& data) {
    {
        Stmt st(prepare("INSERT INTO torrents (repo_type, repo_id, revision, name, info_hash, info_hash_v1, "
                        "announce_key, total_size, file_count, piece_length, torrent_data, created_at) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
        st.text(1, r.repo_type).text(2, r.repo_id).text(3, r.revision).text(4, r.name).text(5, r.info_hash);
        if (!r.info_hash_v1.empty()) st.text(6, r.info_hash_v1);
        st.text(7, r.announce_key).integer(8, static_cast<std::int64_t>(r.total_size));
        st.integer(9, static_cast<std::int64_t>(r.file_count)).integer(10, static_cast<std::int64_t>(r.piece_length));
        st.blob(11, data).text(12, now_iso());
        const int rc = st.step();
        if (rc == SQLITE_CONSTRAINT) return std::optional<std::int64_t>{};
        if (rc != SQLITE_DONE) return Error(errc::disk, std::string("database: ") + sqlite3_errmsg(db_));
    }
    const auto id = sqlite3_last_insert_rowid(db_);
    for (std::size_t i = 0; i < r.files.size(); ++i) {
        Stmt st(prepare("INSERT INTO files (torrent_id, idx, path, size) VALUES (?1, ?2, ?3, ?4)"));
        st.integer(1, id).integer(2, static_cast<std::int64_t>(i)).text(3, r.files[i].path);
        st.integer(4, static_cast<std::int64_t>(r.files[i].size));
        if (st.step() != SQLITE_DONE) return Error(errc::disk, std::string("database: ") + sqlite3_errmsg(db_));
    }
    return std::optional<std::int64_t>{id};
}

Result<std::optional<std::int64_t>> Db::insert(const TorrentRow& r, const std::string& data) {
    std::lock_guard lk(mu_);
    if (auto st = exec("BEGIN IMMEDIATE"); !st) return st.error();
    auto id = insert_locked(r, data);
    if (!id || !*id) {
        (void)exec("ROLLBACK");
        return id;
    }
    if (auto st = exec("COMMIT"); !st) {
        (void)exec("ROLLBACK");
        return st.error();
    }
    return id;
}

Result<std::int64_t> Db::replace(std::int64_t old_id, const TorrentRow& r, const std::string& data) {
    std::lock_guard lk(mu_);
    if (auto st = exec("BEGIN IMMEDIATE"); !st) return st.error();
    const auto rollback = [&](Error e) {
        (void)exec("ROLLBACK");
        return e;
    };
    {
        Stmt st(prepare("DELETE FROM torrents WHERE id = ?1"));
        st.integer(1, old_id);
        if (st.step() != SQLITE_DONE) return rollback(Error(errc::disk, std::string("database: ") + sqlite3_errmsg(db_)));
    }
    auto id = insert_locked(r, data);
    if (!id) return rollback(id.error());
    if (!*id) return rollback(Error(errc::failure, "the torrent is published for another revision"));
    if (auto st = exec("COMMIT"); !st) return rollback(st.error());
    return **id;
}

void Db::load_files(TorrentRow& row) {
    Stmt st(prepare("SELECT path, size FROM files WHERE torrent_id = ?1 ORDER BY idx"));
    st.integer(1, row.id);
    while (st.row()) row.files.push_back({st.col_text(0), static_cast<std::uint64_t>(st.col_int(1))});
}

std::optional<TorrentRow> Db::find(const std::string& type, const std::string& repo, const std::string& revision,
                                   bool with_files) {
    std::lock_guard lk(mu_);
    static const std::string sql = std::string("SELECT ") + kColumns +
                                   " FROM torrents WHERE repo_type = ?1 AND repo_id = ?2 AND revision = ?3";
    std::optional<TorrentRow> out;
    {
        Stmt st(prepare(sql.c_str()));
        st.text(1, type).text(2, repo).text(3, revision);
        if (!st.row()) return std::nullopt;
        out = read_row(st);
    }
    if (with_files) load_files(*out);
    return out;
}

std::vector<TorrentRow> Db::list(const std::string& type, const std::string& repo, std::size_t limit) {
    std::lock_guard lk(mu_);
    static const std::string sql = std::string("SELECT ") + kColumns +
                                   " FROM torrents WHERE repo_type = ?1 AND repo_id = ?2 ORDER BY id DESC LIMIT ?3";
    std::vector<TorrentRow> out;
    {
        Stmt st(prepare(sql.c_str()));
        st.text(1, type).text(2, repo).integer(3, static_cast<std::int64_t>(limit));
        while (st.row()) out.push_back(read_row(st));
    }
    for (auto& r : out) load_files(r);
    return out;
}

std::optional<std::string> Db::torrent_data(const std::string& type, const std::string& repo,
                                            const std::string& revision) {
    std::lock_guard lk(mu_);
    Stmt st(prepare("SELECT torrent_data FROM torrents WHERE repo_type = ?1 AND repo_id = ?2 AND revision = ?3"));
    st.text(1, type).text(2, repo).text(3, revision);
    if (!st.row()) return std::nullopt;
    return st.col_blob(0);
}

std::vector<TorrentRow> Db::all_keys() {
    std::lock_guard lk(mu_);
    static const std::string sql = std::string("SELECT ") + kColumns + " FROM torrents";
    std::vector<TorrentRow> out;
    Stmt st(prepare(sql.c_str()));
    while (st.row()) out.push_back(read_row(st));
    return out;
}

void Db::add_completed(std::int64_t id, std::uint64_t n) {
    std::lock_guard lk(mu_);
    Stmt st(prepare("UPDATE torrents SET completed = completed + ?2 WHERE id = ?1"));
    st.integer(1, id).integer(2, static_cast<std::int64_t>(n));
    st.step();
}

void Db::audit(const AuditRow& a) {
    std::lock_guard lk(mu_);
    Stmt st(prepare("INSERT INTO publish_log (at, remote, token_id, repo_type, repo_id, revision, info_hash, "
                    "status, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
    st.text(1, now_iso()).text(2, a.remote).text(3, a.token_id).text(4, a.repo_type).text(5, a.repo_id);
    st.text(6, a.revision).text(7, a.info_hash).integer(8, a.status).text(9, a.detail);
    st.step();
}

std::size_t Db::audit_count() {
    std::lock_guard lk(mu_);
    Stmt st(prepare("SELECT COUNT(*) FROM publish_log"));
    return st.row() ? static_cast<std::size_t>(st.col_int(0)) : 0;
}

} // namespace llmpt::tracker
