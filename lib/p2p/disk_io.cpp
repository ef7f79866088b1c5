// The disk back end (p2p/disk_io.hpp). Longer than our ~400-line norm on
// purpose: it is one implementation of lt::disk_interface, whose jobs
// (read, write, hash, hash2, move, release, check, ...) share the descriptor
// cache, the worker pool and the write-through queue; split, each part would
// need the others' internals.
#include "p2p/disk_io.hpp"

#include "p2p/stream_hash.hpp"
#include "util/multi_hash.hpp"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/disk_buffer_holder.hpp>
#include <libtorrent/disk_observer.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace llmpt::p2p {

namespace lt = libtorrent;
namespace fs = std::filesystem;

namespace {

constexpr int kBlock = lt::default_block_size;
// Blocks read back and hashed together when a piece is checked.
constexpr int kRunBlocks = 32;
// A page-cache write slower than this (normally ~10 us for a block) means
// the kernel throttles writers to the disk's pace; then writes leave the
// network thread for this long.
constexpr auto kSlowWrite = std::chrono::milliseconds(5);
constexpr auto kQueueAfterSlowWrite = std::chrono::seconds(1);

lt::storage_error errno_error(int err, lt::file_index_t file, lt::operation_t op) {
    return lt::storage_error(lt::error_code(err, lt::system_category()), file, op);
}

// Open descriptors shared by every torrent, least recently used closed first.
// A job holds its descriptor by shared_ptr, so eviction never closes one in use.
class FileCache {
public:
    using Fd = std::shared_ptr<const int>;

    explicit FileCache(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 8)) {}

    // The file of storage `owner` open for reading, or for reading and
    // writing (created with its directories); null with errno set on failure.
    // `path()` names it, asked only when it is not open yet (a path is built
    // from strings: too dear for every 16 KiB block).
    template <class PathFn>
    Fd open(std::uint64_t owner, lt::file_index_t file, const PathFn& path_fn, bool write) {
        std::lock_guard lk(mu_);
        const Key key{owner, static_cast<int>(file)};
        auto it = open_.find(key);
        if (it != open_.end() && (it->second.writable || !write)) {
            it->second.used = ++tick_;
            return it->second.fd;
        }
        const fs::path path = path_fn();
        const auto open_file = [&] {
            if (write) {
                std::error_code ec;
                fs::create_directories(path.parent_path(), ec);
            }
            return ::open(path.c_str(), (write ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0666);
        };
        int fd = open_file();
        // Another download of the commit may have removed an empty staging
        // folder between the two calls: once more.
        if (fd < 0 && write && errno == ENOENT) fd = open_file();
        if (fd < 0) return nullptr;
        Fd handle(new int(fd), [](const int* p) {
            ::close(*p);
            delete p;
        });
        if (it == open_.end() && open_.size() >= capacity_) evict_one();
        open_[key] = Entry{handle, write, ++tick_};
        return handle;
    }

    void close_all(std::uint64_t owner) {
        std::lock_guard lk(mu_);
        open_.erase(open_.lower_bound(Key{owner, 0}), open_.lower_bound(Key{owner + 1, 0}));
    }

    void close(std::uint64_t owner, lt::file_index_t file) {
        std::lock_guard lk(mu_);
        open_.erase(Key{owner, static_cast<int>(file)});
    }

private:
    using Key = std::pair<std::uint64_t, int>;
    struct Entry {
        Fd fd;
        bool writable = false;
        std::uint64_t used = 0;
    };

    void evict_one() {
        auto oldest = std::min_element(open_.begin(), open_.end(),
                                       [](const auto& a, const auto& b) { return a.second.used < b.second.used; });
        if (oldest != open_.end()) open_.erase(oldest);
    }

    std::mutex mu_;
    std::map<Key, Entry> open_;
    std::uint64_t tick_ = 0;
    std::size_t capacity_;
};

// 16 KiB buffers for reads and queued writes, kept for reuse: a fresh
// allocation per block costs a page fault per block.
class BufferPool {
public:
    explicit BufferPool(std::size_t keep) : keep_(keep) {}
    ~BufferPool() {
        for (char* b : free_) delete[] b;
    }
    char* get() {
        {
            std::lock_guard lk(mu_);
            if (!free_.empty()) {
                char* b = free_.back();
                free_.pop_back();
                return b;
            }
        }
        return new char[kBlock];
    }
    void put(char* b) {
        {
            std::lock_guard lk(mu_);
            if (free_.size() < keep_) {
                free_.push_back(b);
                return;
            }
        }
        delete[] b;
    }

private:
    std::mutex mu_;
    std::vector<char*> free_;
    std::size_t keep_;
};

// The allocator of every disk buffer handed to libtorrent, never destroyed:
// libtorrent may free a buffer after the disk back end is gone (a peer
// connection released by the session's last handlers as it shuts down), so
// freeing must not need the back end.
class SharedBuffers final : public lt::buffer_allocator_interface {
public:
    static SharedBuffers& get() {
        static auto* instance = new SharedBuffers; // leaked on purpose: see above
        return *instance;
    }
    char* take() { return pool_.get(); }
    void free_disk_buffer(char* b) override { pool_.put(b); }
    // A buffer of ours as libtorrent holds it: freed when the holder goes,
    // even in a handler that is destroyed without running.
    lt::disk_buffer_holder hold(char* b, int len) { return lt::disk_buffer_holder(*this, b, len); }

private:
    BufferPool pool_{256}; // up to 4 MiB kept
};

// One torrent's files. Jobs hold it by shared_ptr: it outlives remove_torrent
// until they finish. The torrent's file_storage is kept alive by the
// torrent, which every job's completion handler holds.
struct Storage {
    Storage(const lt::storage_params& p, std::uint64_t id_)
        : files(p.files), mapped(p.mapped_files), save_path(p.path), id(id_) {}

    const lt::file_storage& files;  // piece layout
    const lt::file_storage* mapped; // renamed files, or null
    std::string save_path;
    std::uint64_t id;

    fs::path path_of(lt::file_index_t f) const {
        {
            std::lock_guard lk(mu);
            if (auto it = renamed.find(static_cast<int>(f)); it != renamed.end()) return it->second;
        }
        return (mapped ? *mapped : files).file_path(f, save_path);
    }

    // Per file: the download's stream hash its checked pieces feed, or null.
    std::vector<std::shared_ptr<StreamHash>> streams;
    StreamHash* stream(lt::file_index_t f) const {
        const auto i = static_cast<std::size_t>(static_cast<int>(f));
        return i < streams.size() ? streams[i].get() : nullptr;
    }

    mutable std::mutex mu; // guards the maps below
    std::unordered_map<int, fs::path> renamed;                            // file → where rename_file put it
    std::unordered_map<int, int> writes_in_flight;                        // piece → writes queued or running
    std::unordered_map<int, std::vector<std::function<void()>>> waiting;  // piece → hash jobs
};

using StoragePtr = std::shared_ptr<Storage>;

class PooledDiskIo final : public lt::disk_interface {
public:
    // `inline_writes`: write on the network thread while the page cache
    // takes writes at once (see async_write); else every write queues.
    PooledDiskIo(lt::io_context& ios, const lt::settings_interface& settings, bool inline_writes,
                 std::shared_ptr<StreamRegistry> streams)
        : ios_(ios), settings_(settings), inline_writes_(inline_writes), registry_(std::move(streams)),
          pool_(static_cast<std::size_t>(std::max(1, settings.get_int(lt::settings_pack::aio_threads)))),
          files_(static_cast<std::size_t>(std::max(0, settings.get_int(lt::settings_pack::file_pool_size)))) {}

    ~PooledDiskIo() override {
        writer_.join();
        pool_.join();
    }

    lt::storage_holder new_torrent(const lt::storage_params& p, const std::shared_ptr<void>&) override {
        auto st = std::make_shared<Storage>(p, ++next_id_);
        if (registry_) st->streams = registry_->take(std::string(p.info_hash.data(), p.info_hash.size()));
        if (free_.empty()) {
            storages_.push_back(std::move(st));
            return lt::storage_holder(lt::storage_index_t(static_cast<int>(storages_.size() - 1)), *this);
        }
        const auto idx = free_.back();
        free_.pop_back();
        storages_[static_cast<std::size_t>(static_cast<int>(idx))] = std::move(st);
        return lt::storage_holder(idx, *this);
    }

    void remove_torrent(lt::storage_index_t idx) override {
        auto& slot = storages_[static_cast<std::size_t>(static_cast<int>(idx))];
        files_.close_all(slot->id);
        slot.reset();
        free_.push_back(idx);
    }

    void async_read(lt::storage_index_t idx, const lt::peer_request& r,
                    std::function<void(lt::disk_buffer_holder, const lt::storage_error&)> handler,
                    lt::disk_job_flags_t) override {
        auto st = storage(idx);
        if (r.length <= 0 || r.length > kBlock) {
            const lt::storage_error err(lt::errors::make_error_code(lt::errors::invalid_request), lt::operation_t::file_read);
            boost::asio::post(ios_, [h = std::move(handler), err] { h(lt::disk_buffer_holder(), err); });
            return;
        }
        // A block in the page cache is read here, on the network thread: a
        // trip through the pool and back costs more than the copy. Anything
        // that would wait for the disk goes to the pool.
        auto& buffers = SharedBuffers::get();
        char* buf = buffers.take();
        lt::storage_error err;
        if (transfer(*st, r.piece, r.start, buf, r.length, Io::read_cached, err) == r.length || err) {
            boost::asio::post(ios_, [h = std::move(handler), b = buffers.hold(buf, r.length), err]() mutable {
                h(std::move(b), err);
            });
            return;
        }
        in_pool([this, st = std::move(st), r, b = buffers.hold(buf, r.length),
                                  h = std::move(handler)]() mutable {
            lt::storage_error err;
            const int got = transfer(*st, r.piece, r.start, b.data(), r.length, Io::read, err);
            if (!err && got < r.length)
                err = lt::storage_error(lt::errors::make_error_code(lt::errors::file_too_short), lt::operation_t::file_read);
            boost::asio::post(ios_, [h = std::move(h), b = std::move(b), err]() mutable { h(std::move(b), err); });
        });
    }

    bool async_write(lt::storage_index_t idx, const lt::peer_request& r, const char* buf,
                     std::shared_ptr<lt::disk_observer> observer, std::function<void(const lt::storage_error&)> handler,
                     lt::disk_job_flags_t) override {
        auto st = storage(idx);
        if (r.length <= 0 || r.length > kBlock) {
            const lt::storage_error err(lt::errors::make_error_code(lt::errors::invalid_request), lt::operation_t::file_write);
            boost::asio::post(ios_, [h = std::move(handler), err] { h(err); });
            return false;
        }
        // Into the page cache right here, from libtorrent's receive buffer: no
        // copy and no hand-off to the writer (on loopback ~0.1 s less CPU per
        // GiB, and a steadier system time). A write that
        // takes long means the kernel makes writers wait for the disk: the
        // writes of the next second queue for the writer thread instead, so
        // the network thread (which also serves uploads) never waits long.
        const auto now = std::chrono::steady_clock::now();
        if (inline_writes_ && now >= queue_until_) {
            lt::storage_error err;
            // transfer() only reads `buf` when writing.
            transfer(*st, r.piece, r.start, const_cast<char*>(buf), r.length, Io::write, err);
            if (std::chrono::steady_clock::now() - now > kSlowWrite) queue_until_ = now + kQueueAfterSlowWrite;
            boost::asio::post(ios_, [h = std::move(handler), err] { h(err); });
            return false;
        }
        char* copy = SharedBuffers::get().take();
        std::memcpy(copy, buf, static_cast<std::size_t>(r.length));
        {
            std::lock_guard lk(st->mu);
            ++st->writes_in_flight[static_cast<int>(r.piece)];
        }
        queued_bytes_ += r.length;
        bool full = false;
        {
            std::lock_guard lk(observers_mu_);
            if (queued_bytes_ > max_queued()) {
                full = exceeded_ = true;
                if (observer) observers_.push_back(std::move(observer));
            }
        }
        run_on(writer_, [this, st = std::move(st), r, copy, h = std::move(handler)]() mutable {
            lt::storage_error err;
            transfer(*st, r.piece, r.start, copy, r.length, Io::write, err);
            SharedBuffers::get().free_disk_buffer(copy);
            std::vector<std::function<void()>> ready;
            {
                std::lock_guard lk(st->mu);
                const int piece = static_cast<int>(r.piece);
                if (--st->writes_in_flight[piece] == 0) {
                    st->writes_in_flight.erase(piece);
                    if (auto it = st->waiting.find(piece); it != st->waiting.end()) {
                        ready = std::move(it->second);
                        st->waiting.erase(it);
                    }
                }
            }
            for (auto& job : ready) in_pool(std::move(job));
            boost::asio::post(ios_, [h = std::move(h), err] { h(err); });
            written(r.length);
        });
        return full;
    }

    void async_hash(lt::storage_index_t idx, lt::piece_index_t piece, lt::span<lt::sha256_hash> v2,
                    lt::disk_job_flags_t flags,
                    std::function<void(lt::piece_index_t, const lt::sha1_hash&, const lt::storage_error&)> handler) override {
        auto st = storage(idx);
        const bool v1 = bool(flags & disk_interface::v1_hash);
        auto job = [this, st, piece, v2, v1, h = std::move(handler)]() mutable {
            lt::storage_error err;
            const auto hash = hash_piece(*st, piece, v2, v1, err);
            boost::asio::post(ios_, [h = std::move(h), piece, hash, err] { h(piece, hash, err); });
        };
        after_writes(*st, piece, std::move(job));
    }

    void async_hash2(lt::storage_index_t idx, lt::piece_index_t piece, int offset, lt::disk_job_flags_t,
                     std::function<void(lt::piece_index_t, const lt::sha256_hash&, const lt::storage_error&)> handler) override {
        auto st = storage(idx);
        auto job = [this, st, piece, offset, h = std::move(handler)]() mutable {
            std::vector<char> buf(kBlock);
            lt::storage_error err;
            const int len = std::min(kBlock, st->files.piece_size2(piece) - offset);
            const int got = transfer(*st, piece, offset, buf.data(), len, Io::read, err);
            lt::hasher256 hasher;
            if (got > 0) hasher.update({buf.data(), got});
            boost::asio::post(ios_, [h = std::move(h), piece, hash = hasher.final(), err] { h(piece, hash, err); });
        };
        after_writes(*st, piece, std::move(job));
    }

    void async_move_storage(lt::storage_index_t idx, std::string, lt::move_flags_t,
                            std::function<void(lt::status_t, const std::string&, const lt::storage_error&)> handler) override {
        // Staging never moves; say so instead of pretending.
        const lt::storage_error err(lt::error_code(ENOTSUP, lt::system_category()), lt::operation_t::file_rename);
        boost::asio::post(ios_, [h = std::move(handler), p = storage(idx)->save_path, err] {
            h(lt::status_t::fatal_disk_error, p, err);
        });
    }

    void async_release_files(lt::storage_index_t idx, std::function<void()> handler) override {
        files_.close_all(storage(idx)->id);
        if (handler) boost::asio::post(ios_, std::move(handler));
    }

    void async_check_files(lt::storage_index_t idx, const lt::add_torrent_params* resume,
                           lt::aux::vector<std::string, lt::file_index_t>,
                           std::function<void(lt::status_t, const lt::storage_error&)> handler) override {
        // What the resume data claims is read here, on the network thread,
        // before the caller's add_torrent_params goes away.
        auto st = storage(idx);
        std::map<int, std::int64_t> needed; // file → bytes the claimed pieces need
        const bool claims = resume && resume->have_pieces.count() > 0;
        if (claims) {
            for (lt::piece_index_t p(0); p < resume->have_pieces.end_index(); ++p) {
                if (!resume->have_pieces.get_bit(p) || p >= st->files.end_piece()) continue;
                for (const auto& s : st->files.map_block(p, 0, st->files.piece_size(p))) {
                    if (st->files.pad_file_at(s.file_index)) continue;
                    auto& n = needed[static_cast<int>(s.file_index)];
                    n = std::max(n, s.offset + s.size);
                }
            }
        }
        in_pool([this, st, claims, needed = std::move(needed), h = std::move(handler)]() mutable {
            const auto status = claims ? (sizes_hold(*st, needed) ? lt::status_t::no_error : lt::status_t::need_full_check)
                                       : (any_file(*st) ? lt::status_t::need_full_check : lt::status_t::no_error);
            boost::asio::post(ios_, [h = std::move(h), status] { h(status, lt::storage_error()); });
        });
    }

    void async_stop_torrent(lt::storage_index_t idx, std::function<void()> handler) override {
        auto st = storage(idx);
        // Queued behind the torrent's earlier jobs (a job still running on
        // another worker keeps its descriptor alive by shared_ptr).
        in_pool([this, st, h = std::move(handler)]() mutable {
            files_.close_all(st->id);
            if (h) boost::asio::post(ios_, std::move(h));
        });
    }

    // The file is at `name` afterwards (relative names are under the save
    // path) and no longer at its old path. A download renames a verified
    // staging file to the blob it was linked to: rename(2) does nothing
    // when both names are links of one inode, so the old name is unlinked
    // here; staging then holds no second link to a blob.
    void async_rename_file(lt::storage_index_t idx, lt::file_index_t file, std::string name,
                           std::function<void(const std::string&, lt::file_index_t, const lt::storage_error&)> handler) override {
        auto st = storage(idx);
        in_pool([this, st, file, name = std::move(name), h = std::move(handler)]() mutable {
            const fs::path from = st->path_of(file);
            const fs::path to = fs::path(name).is_absolute() ? fs::path(name) : fs::path(st->save_path) / name;
            files_.close(st->id, file);
            lt::storage_error err;
            std::error_code ec;
            fs::create_directories(to.parent_path(), ec);
            if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
                err = errno_error(errno, file, lt::operation_t::file_rename);
            } else {
                struct stat a {}, b {};
                if (::stat(from.c_str(), &a) == 0 && ::stat(to.c_str(), &b) == 0 && a.st_ino == b.st_ino &&
                    a.st_dev == b.st_dev)
                    ::unlink(from.c_str());
                std::lock_guard lk(st->mu);
                st->renamed[static_cast<int>(file)] = to;
            }
            boost::asio::post(ios_, [h = std::move(h), n = std::move(name), file, err] { h(n, file, err); });
        });
    }

    void async_delete_files(lt::storage_index_t idx, lt::remove_flags_t options,
                            std::function<void(const lt::storage_error&)> handler) override {
        auto st = storage(idx);
        in_pool([this, st, options, h = std::move(handler)]() mutable {
            files_.close_all(st->id);
            lt::storage_error err;
            if (options & lt::session::delete_files) {
                for (const auto f : st->files.file_range()) {
                    if (st->files.pad_file_at(f)) continue;
                    if (::unlink(st->path_of(f).c_str()) != 0 && errno != ENOENT && !err)
                        err = errno_error(errno, f, lt::operation_t::file_remove);
                }
            }
            boost::asio::post(ios_, [h = std::move(h), err] { h(err); });
        });
    }

    void async_set_file_priority(lt::storage_index_t, lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio,
                                 std::function<void(const lt::storage_error&,
                                                    lt::aux::vector<lt::download_priority_t, lt::file_index_t>)> handler) override {
        // Files are created on their first write; torrents from our tracker
        // have no piece spanning two files (v2 alignment), so an unwanted
        // file is never touched and needs no part file.
        boost::asio::post(ios_, [h = std::move(handler), p = std::move(prio)]() mutable { h(lt::storage_error(), std::move(p)); });
    }

    void async_clear_piece(lt::storage_index_t idx, lt::piece_index_t piece,
                           std::function<void(lt::piece_index_t)> handler) override {
        auto st = storage(idx);
        // The piece failed its check and will be written again.
        if (!st->streams.empty()) {
            for (const auto& sl : st->files.map_block(piece, 0, st->files.piece_size(piece)))
                if (auto* stream = st->stream(sl.file_index))
                    stream->rewrite(static_cast<std::uint64_t>(sl.offset), static_cast<std::uint64_t>(sl.offset + sl.size));
        }
        boost::asio::post(ios_, [h = std::move(handler), piece] { h(piece); });
    }

    void update_stats_counters(lt::counters&) const override {}
    std::vector<lt::open_file_state> get_status(lt::storage_index_t) const override { return {}; }
    // Queued jobs are never dropped: one dropped unrun would destroy its
    // completion handler, and with it a torrent's storage_holder, after this
    // back end is gone. They all run (each keeps the network thread's
    // io_context alive until its completion is delivered, see in_pool()).
    void abort(bool wait) override {
        if (!wait) return;
        writer_.join();
        pool_.join();
    }
    void submit_jobs() override {}
    void settings_updated() override {}

private:
    // Runs `job` on the worker pool. The job holds work on the network
    // thread's io_context until it has posted its completion there, so the
    // session's network thread (which stops when its io_context runs out of
    // work) delivers every completion while this back end still exists.
    template <class Job>
    void in_pool(Job&& job) {
        run_on(pool_, std::forward<Job>(job));
    }
    template <class Job>
    void run_on(boost::asio::thread_pool& pool, Job&& job) {
        boost::asio::post(pool, [work = boost::asio::make_work_guard(ios_), job = std::forward<Job>(job)]() mutable {
            {
                auto run = std::move(job); // its captures go before the work does
                run();
            }
            work.reset();
        });
    }

    StoragePtr storage(lt::storage_index_t idx) const { return storages_[static_cast<std::size_t>(static_cast<int>(idx))]; }

    std::int64_t max_queued() const {
        return std::max<std::int64_t>(settings_.get_int(lt::settings_pack::max_queued_disk_bytes), 1 << 20);
    }

    void written(int bytes) {
        queued_bytes_ -= bytes;
        std::vector<std::shared_ptr<lt::disk_observer>> wake;
        {
            std::lock_guard lk(observers_mu_);
            if (!exceeded_ || queued_bytes_ > max_queued() / 2) return;
            exceeded_ = false;
            wake.swap(observers_);
        }
        boost::asio::post(ios_, [wake = std::move(wake)] {
            for (const auto& o : wake) o->on_disk();
        });
    }

    // Runs a piece's read-back job once the writes queued for it are on disk.
    void after_writes(Storage& st, lt::piece_index_t piece, std::function<void()> job) {
        {
            std::lock_guard lk(st.mu);
            if (st.writes_in_flight.count(static_cast<int>(piece))) {
                st.waiting[static_cast<int>(piece)].push_back(std::move(job));
                return;
            }
        }
        in_pool(std::move(job));
    }

    // The piece's v1 hash (hybrid torrents) and, into `v2`, its blocks' v2
    // hashes. The piece is read back in runs (from the page cache: it was
    // just written); a run's blocks are hashed side by side
    // (util::sha256_each) and its bytes feed the files' stream hashes.
    lt::sha1_hash hash_piece(Storage& st, lt::piece_index_t piece, lt::span<lt::sha256_hash> v2, bool v1,
                             lt::storage_error& err) {
        const int size1 = v1 ? st.files.piece_size(piece) : 0;
        const int size2 = v2.empty() ? 0 : st.files.piece_size2(piece);
        const int size = std::max(size1, size2);
        lt::hasher sha1;
        // Not zeroed: a page is touched (and faulted in) only when a read
        // fills it, which for small pieces is a part of the run.
        thread_local const auto buf = std::make_unique_for_overwrite<char[]>(kRunBlocks * kBlock);
        std::vector<util::Sha256Job> jobs;
        for (int offset = 0; offset < size;) {
            const int len = std::min(kRunBlocks * kBlock, size - offset);
            const int got = transfer(st, piece, offset, buf.get(), len, Io::read, err);
            if (got <= 0) break;
            if (v1 && offset < size1) sha1.update({buf.get(), std::min(got, size1 - offset)});
            jobs.clear();
            for (int at = 0; at < got && offset + at < size2; at += kBlock) {
                const int n = std::min({kBlock, got - at, size2 - offset - at});
                jobs.push_back({buf.get() + at, static_cast<std::size_t>(n),
                                reinterpret_cast<unsigned char*>(v2[(offset + at) / kBlock].data())});
            }
            util::sha256_each(jobs);
            if (!st.streams.empty()) {
                int at = 0;
                for (const auto& sl : st.files.map_block(piece, offset, got)) {
                    if (auto* stream = st.stream(sl.file_index))
                        stream->absorb(static_cast<std::uint64_t>(sl.offset), buf.get() + at, static_cast<std::size_t>(sl.size));
                    at += static_cast<int>(sl.size);
                }
            }
            if (got < len) break;
            offset += got;
        }
        return v1 ? sha1.final() : lt::sha1_hash();
    }

    enum class Io { read, read_cached, write };

    // Reads or writes `len` bytes of `piece` from `offset`. Pad files read as
    // zeros and are never written. Returns the bytes done: short at a file's
    // end when reading, short for read_cached when a byte is not in the page
    // cache; or -1 with `err` set.
    int transfer(Storage& st, lt::piece_index_t piece, int offset, char* buf, int len, Io io, lt::storage_error& err) {
        const bool write = io == Io::write;
        int done = 0;
        for (const auto& s : st.files.map_block(piece, offset, len)) {
            const auto size = static_cast<std::size_t>(s.size);
            if (st.files.pad_file_at(s.file_index)) {
                if (!write) std::memset(buf + done, 0, size);
                done += static_cast<int>(size);
                continue;
            }
            const auto fd = files_.open(st.id, s.file_index, [&] { return st.path_of(s.file_index); }, write);
            if (!fd) {
                err = errno_error(errno, s.file_index, lt::operation_t::file_open);
                return -1;
            }
            std::size_t moved = 0;
            while (moved < size) {
                const auto at = static_cast<off_t>(s.offset) + static_cast<off_t>(moved);
                char* p = buf + done + moved;
                const std::size_t n_want = size - moved;
                ssize_t n = 0;
                if (io == Io::read_cached) {
                    iovec v{p, n_want};
                    n = ::preadv2(*fd, &v, 1, at, RWF_NOWAIT);
                    // EAGAIN: not in the page cache. A file system without
                    // RWF_NOWAIT (tmpfs says EOPNOTSUPP, older kernels
                    // EINVAL or ENOSYS) cannot tell: the pool reads it.
                    if (n < 0 && (errno == EAGAIN || errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS))
                        return done + static_cast<int>(moved);
                } else {
                    n = write ? ::pwrite(*fd, p, n_want, at) : ::pread(*fd, p, n_want, at);
                }
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) {
                    err = errno_error(errno, s.file_index, write ? lt::operation_t::file_write : lt::operation_t::file_read);
                    return -1;
                }
                if (n == 0) return done + static_cast<int>(moved); // end of file
                moved += static_cast<std::size_t>(n);
                if (io == Io::read_cached && moved < size) return done + static_cast<int>(moved); // partly cached
            }
            done += static_cast<int>(size);
        }
        return done;
    }

    // Every file holds at least the bytes the resume data's pieces need.
    static bool sizes_hold(const Storage& st, const std::map<int, std::int64_t>& needed) {
        for (const auto& [file, bytes] : needed) {
            struct stat sb {};
            if (::stat(st.path_of(lt::file_index_t(file)).c_str(), &sb) != 0 || sb.st_size < bytes) return false;
        }
        return true;
    }

    static bool any_file(const Storage& st) {
        for (const auto f : st.files.file_range()) {
            struct stat sb {};
            if (!st.files.pad_file_at(f) && ::stat(st.path_of(f).c_str(), &sb) == 0) return true;
        }
        return false;
    }

    lt::io_context& ios_;
    const lt::settings_interface& settings_;
    const bool inline_writes_;
    const std::shared_ptr<StreamRegistry> registry_; // stream hashes of new torrents, or null
    boost::asio::thread_pool pool_;
    // Writes, one at a time: concurrent writes to one file spin on its
    // inode lock (i_rwsem) while the holder copies into the page cache.
    boost::asio::thread_pool writer_{1};
    FileCache files_;
    std::vector<StoragePtr> storages_; // network thread only
    std::chrono::steady_clock::time_point queue_until_{}; // network thread only: writes queue until then
    std::vector<lt::storage_index_t> free_;
    std::uint64_t next_id_ = 0;

    std::atomic<std::int64_t> queued_bytes_{0};
    std::mutex observers_mu_;
    bool exceeded_ = false;
    std::vector<std::shared_ptr<lt::disk_observer>> observers_;
};

} // namespace

lt::disk_io_constructor_type pooled_disk_io(std::shared_ptr<StreamRegistry> streams, bool queue_every_write) {
    return [streams = std::move(streams), queue_every_write](lt::io_context& ios, const lt::settings_interface& settings,
                                                             lt::counters&) -> std::unique_ptr<lt::disk_interface> {
        return std::make_unique<PooledDiskIo>(ios, settings, !queue_every_write, streams);
    };
}

} // namespace llmpt::p2p
