#include "torrent/parts.hpp"

#include "torrent/inspect.hpp"
#include "util/fd.hpp"
#include "util/multi_hash.hpp"
#include "util/url.hpp"

#include <fmt/format.h>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

namespace llmpt::torrent {

namespace fs = std::filesystem;

namespace {

std::uint64_t next_pow2(std::uint64_t n) {
    std::uint64_t w = 1;
    while (w < n) w <<= 1;
    return w;
}

// The root of a tree over `leaves`, padded with `pad` to `width` leaves
// (a power of two). `leaves` is consumed as scratch space.
Sha256Digest merkle_root(std::vector<Sha256Digest> level, std::uint64_t width, const Sha256Digest& pad) {
    if (level.empty()) level.push_back(pad);
    level.resize(static_cast<std::size_t>(width), pad);
    std::vector<util::Sha256Job> jobs;
    while (level.size() > 1) {
        const std::size_t half = level.size() / 2;
        jobs.resize(half);
        // sha256_each runs its jobs in any order: the parents go to a new level.
        std::vector<Sha256Digest> next(half);
        for (std::size_t i = 0; i < half; ++i) jobs[i] = {level[2 * i].data(), 64, next[i].data()};
        util::sha256_each(jobs);
        level = std::move(next);
    }
    return level.front();
}

// The root of a piece's tree when every leaf is zero: what pads the layer of
// piece hashes to a power of two.
Sha256Digest zero_piece_root(std::uint64_t piece_length) {
    return merkle_root({}, piece_length / kBlockSize, Sha256Digest{});
}

class Sha1 {
public:
    Sha1() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha1(), nullptr); }
    void update(const void* p, std::size_t n) { EVP_DigestUpdate(ctx_.get(), p, n); }
    Sha1Digest finish() {
        Sha1Digest d{};
        unsigned int len = 0;
        EVP_DigestFinal_ex(ctx_.get(), d.data(), &len);
        EVP_DigestInit_ex(ctx_.get(), EVP_sha1(), nullptr);
        return d;
    }

private:
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

} // namespace

std::uint64_t pieces_in(std::uint64_t size, std::uint64_t piece_length) {
    return piece_length == 0 ? 0 : (size + piece_length - 1) / piece_length;
}

Result<std::vector<Sha256Digest>> hash_pieces(const fs::path& file, std::uint64_t size, const PieceHashing& how) {
    const auto piece_length = how.piece_length;
    auto* const v1 = how.v1;
    std::vector<Sha256Digest> out;
    const auto total_pieces = pieces_in(size, piece_length);
    if (piece_length < kBlockSize || piece_length % kBlockSize != 0)
        return Error(errc::usage, "piece length must be a multiple of 16 KiB");
    if (how.first >= total_pieces) return out;
    const auto last = how.count == 0 ? total_pieces : std::min(total_pieces, how.first + how.count);
    auto fd = util::open_fd(file, O_RDONLY);
    if (!fd) return fd.error();
    ::posix_fadvise(fd->get(), static_cast<off_t>(how.first * piece_length),
                    static_cast<off_t>((last - how.first) * piece_length), POSIX_FADV_SEQUENTIAL);

    const bool single = size <= piece_length; // the tree is as wide as the file's blocks need
    const std::uint64_t chunk = std::min<std::uint64_t>(piece_length, 4u << 20);
    std::vector<char> buf(static_cast<std::size_t>(chunk));
    std::vector<Sha256Digest> leaves;
    std::vector<util::Sha256Job> jobs;
    Sha1 sha1;
    for (std::uint64_t p = how.first; p < last; ++p) {
        if (how.cancel && how.cancel->load()) return Error(errc::interrupted, "interrupted");
        const std::uint64_t begin = p * piece_length;
        const std::uint64_t end = std::min(size, begin + piece_length);
        leaves.clear();
        for (std::uint64_t at = begin; at < end;) {
            const auto want = static_cast<std::size_t>(std::min(chunk, end - at));
            std::size_t got = 0;
            while (got < want) {
                const ssize_t n = ::pread(fd->get(), buf.data() + got, want - got, static_cast<off_t>(at + got));
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) return util::errno_error(errno, "cannot read", file.string());
                if (n == 0) return Error(errc::integrity, "the file is shorter than " + std::to_string(size) + " bytes", file.string());
                got += static_cast<std::size_t>(n);
            }
            const std::size_t blocks = (want + kBlockSize - 1) / kBlockSize;
            const std::size_t first_leaf = leaves.size();
            leaves.resize(first_leaf + blocks);
            jobs.resize(blocks);
            for (std::size_t b = 0; b < blocks; ++b) {
                const std::size_t off = b * kBlockSize;
                jobs[b] = {buf.data() + off, std::min<std::size_t>(kBlockSize, want - off), leaves[first_leaf + b].data()};
            }
            util::sha256_each(jobs);
            if (v1) sha1.update(buf.data(), want);
            at += want;
            if (how.hashed) *how.hashed += want;
        }
        const auto width = single ? next_pow2(leaves.size()) : piece_length / kBlockSize;
        out.push_back(merkle_root(std::move(leaves), width, Sha256Digest{}));
        leaves = {};
        if (v1) {
            static const std::vector<char> zeros(1 << 20, 0);
            const bool tail = end == size && !how.v1_pad_tail;
            for (std::uint64_t pad = tail ? 0 : piece_length - (end - begin); pad > 0;) {
                const auto n = std::min<std::uint64_t>(pad, zeros.size());
                sha1.update(zeros.data(), static_cast<std::size_t>(n));
                pad -= n;
            }
            v1->push_back(sha1.finish());
        }
    }
    return out;
}

Sha256Digest pieces_root(const FilePart& part, std::uint64_t piece_length) {
    if (part.size == 0 || part.pieces.empty()) return Sha256Digest{};
    if (part.size <= piece_length) return part.pieces.front();
    return merkle_root(part.pieces, next_pow2(part.pieces.size()), zero_piece_root(piece_length));
}

Status check_part(const FilePart& part, std::uint64_t piece_length, bool v1) {
    const auto want = pieces_in(part.size, piece_length);
    if (part.pieces.size() != want)
        return Error(errc::usage, fmt::format("{}: {} bytes need {} piece hashes, got {}", part.path, part.size, want,
                                              part.pieces.size()));
    if (v1 && part.v1_pieces.size() != want)
        return Error(errc::usage, part.path + ": a hybrid torrent needs " + std::to_string(want) + " v1 piece hashes");
    return ok();
}

Result<std::string> assemble(const std::string& commit, const std::vector<FilePart>& parts,
                             const AssembleOptions& o) {
    if (parts.empty()) return Error(errc::not_found, "the snapshot has no files", commit);
    std::uint64_t total = 0;
    std::map<std::string, const FilePart*> by_path;
    for (const auto& p : parts) {
        total += p.size;
        if (!by_path.emplace(p.path, &p).second) return Error(errc::usage, "duplicate path " + p.path);
    }
    const auto piece_length = piece_length_for(total);
    for (const auto& p : parts)
        if (auto st = check_part(p, piece_length, o.hybrid); !st) return st.error();

    // No flags: no attributes, no mtime, no symlinks. The creator sorts the
    // files and pads each to a piece boundary (its canonical layout).
    lt::file_storage files;
    for (const auto& p : parts) files.add_file(commit + "/" + p.path, static_cast<std::int64_t>(p.size));
    try {
        lt::create_torrent t(files, static_cast<int>(piece_length),
                             o.hybrid ? lt::create_flags_t{} : lt::create_torrent::v2_only);
        const auto& laid = t.files();
        const std::string root = commit + "/";
        for (const auto i : laid.file_range()) {
            if (laid.pad_file_at(i)) continue;
            auto path = laid.file_path(i);
            if (path.compare(0, root.size(), root) == 0) path.erase(0, root.size());
            const auto it = by_path.find(path);
            if (it == by_path.end()) return Error(errc::failure, "libtorrent renamed " + path);
            const auto& part = *it->second;
            for (std::size_t k = 0; k < part.pieces.size(); ++k) {
                lt::sha256_hash h;
                std::memcpy(h.data(), part.pieces[k].data(), 32);
                t.set_hash2(i, lt::piece_index_t::diff_type(static_cast<int>(k)), h);
            }
            if (o.hybrid) {
                const int first = static_cast<int>(laid.map_file(i, 0, 0).piece);
                for (std::size_t k = 0; k < part.v1_pieces.size(); ++k) {
                    lt::sha1_hash h;
                    std::memcpy(h.data(), part.v1_pieces[k].data(), 20);
                    t.set_hash(lt::piece_index_t(first + static_cast<int>(k)), h);
                }
            }
        }
        if (!o.tracker.empty()) t.add_tracker(util::trim_trailing_slashes(o.tracker) + "/announce");
        t.set_creator("llmpt");
        t.set_creation_date(0);
        std::string out;
        lt::bencode(std::back_inserter(out), t.generate());
        return out;
    } catch (const std::exception& e) {
        return Error(errc::failure, std::string("cannot make the torrent: ") + e.what(), commit);
    }
}

Result<std::string> make_snapshot_torrent(const std::string& commit, const SnapshotSource& src,
                                          const AssembleOptions& o, int threads,
                                          const std::function<void(std::uint64_t, std::uint64_t)>& on_progress,
                                          const std::atomic<bool>* cancel) {
    std::uint64_t total = 0;
    for (const auto& [_, size] : src.files) total += size;
    const auto piece_length = piece_length_for(total);

    // Work items of up to ~64 MiB of pieces, so one large file spreads over
    // every worker; each writes its own slots, so no locking of results.
    struct Item {
        std::size_t file;
        std::uint64_t first, count;
    };
    std::vector<FilePart> parts(src.files.size());
    std::vector<std::vector<std::vector<Sha256Digest>>> v2(src.files.size());
    std::vector<std::vector<std::vector<Sha1Digest>>> v1(src.files.size());
    std::vector<Item> items;
    const std::uint64_t per_item = std::max<std::uint64_t>(1, (64ull << 20) / piece_length);
    for (std::size_t f = 0; f < src.files.size(); ++f) {
        parts[f].path = src.files[f].first;
        parts[f].size = src.files[f].second;
        const auto n = pieces_in(parts[f].size, piece_length);
        const auto chunks = (n + per_item - 1) / per_item;
        v2[f].resize(chunks);
        v1[f].resize(chunks);
        for (std::uint64_t c = 0; c < chunks; ++c) items.push_back({f, c * per_item, per_item});
    }

    std::atomic<std::uint64_t> hashed{0};
    std::atomic<bool> failed{false};
    std::mutex mu;
    std::condition_variable cv;
    std::size_t done = 0;
    std::optional<Error> error;
    {
        boost::asio::thread_pool pool(static_cast<std::size_t>(std::max(1, threads)));
        for (const auto& item : items) {
            boost::asio::post(pool, [&, item] {
                Result<std::vector<Sha256Digest>> r = Error(errc::interrupted, "interrupted");
                if (!failed.load()) {
                    const auto& [path, size] = src.files[item.file];
                    PieceHashing how;
                    how.piece_length = piece_length;
                    how.first = item.first;
                    how.count = item.count;
                    how.v1 = o.hybrid ? &v1[item.file][item.first / per_item] : nullptr;
                    how.v1_pad_tail = src.files.size() > 1;
                    how.cancel = cancel;
                    how.hashed = &hashed;
                    r = hash_pieces(src.dir / path, size, how);
                }
                std::lock_guard lk(mu);
                if (r) v2[item.file][item.first / per_item] = std::move(*r);
                else if (!error) error = r.error(), failed = true;
                ++done;
                cv.notify_one();
            });
        }
        std::unique_lock lk(mu);
        while (done < items.size()) {
            cv.wait_for(lk, std::chrono::milliseconds(200));
            if (on_progress) {
                lk.unlock();
                on_progress(hashed.load(), total);
                lk.lock();
            }
        }
        pool.join();
    }
    if (error) return *error;
    for (std::size_t f = 0; f < parts.size(); ++f) {
        for (auto& chunk : v2[f]) parts[f].pieces.insert(parts[f].pieces.end(), chunk.begin(), chunk.end());
        for (auto& chunk : v1[f]) parts[f].v1_pieces.insert(parts[f].v1_pieces.end(), chunk.begin(), chunk.end());
    }
    if (on_progress) on_progress(total, total);
    return assemble(commit, parts, o);
}

} // namespace llmpt::torrent
