// create_torrent(): the deterministic snapshot torrent of DESIGN §5, made by
// libtorrent's creator (add_files order, v2 unless hybrid, no dates).
#include <llmpt/torrent.hpp>

#include "cache/layout.hpp"
#include "torrent/inspect.hpp"

#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/settings_pack.hpp>

#include <thread>

namespace llmpt {

namespace fs = std::filesystem;

Result<CreatedTorrent> create_torrent(const CreateTorrentRequest& req,
                                      const std::function<void(std::uint64_t, std::uint64_t)>& on_progress) {
    auto id = RepoId::parse(req.repo);
    if (!id) return id.error();
    const cache::RepoCache cache(req.cache_dir, RepoRef{req.repo_type, *id});
    const auto commit = cache.resolve_offline(req.revision);
    if (!commit)
        return Error(errc::not_found, req.repo + "@" + req.revision + " is not in the cache at " +
                                          req.cache_dir.string());
    if (auto files = cache.checked_snapshot_files(*commit); !files) return files.error();

    lt::file_storage files;
    lt::add_files(files, cache.snapshot_dir(*commit).string());
    if (files.num_files() == 0) return Error(errc::not_found, "the snapshot has no files", commit->str());
    const auto total = static_cast<std::uint64_t>(files.total_size());
    const auto piece_length = torrent::piece_length_for(total);
    lt::create_torrent t(files, static_cast<int>(piece_length), req.hybrid ? lt::create_flags_t{} : lt::create_torrent::v2_only);
    if (!req.tracker.empty()) {
        std::string url = req.tracker;
        while (!url.empty() && url.back() == '/') url.pop_back();
        t.add_tracker(url + "/announce");
    }
    t.set_creator("llmpt");
    t.set_creation_date(0);

    lt::settings_pack sp;
    const int threads = req.threads > 0 ? req.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    sp.set_int(lt::settings_pack::hashing_threads, threads);
    sp.set_int(lt::settings_pack::aio_threads, threads);
    lt::error_code ec;
    lt::set_piece_hashes(t, cache.snapshot_dir(*commit).parent_path().string(), sp,
                         [&](lt::piece_index_t p) {
                             if (on_progress)
                                 on_progress(std::min(total, (static_cast<std::uint64_t>(static_cast<int>(p)) + 1) * piece_length), total);
                         },
                         ec);
    if (ec) return Error(errc::failure, "hashing failed: " + ec.message(), commit->str());

    CreatedTorrent out;
    lt::bencode(std::back_inserter(out.data), t.generate());
    auto facts = torrent::inspect(out.data, torrent::Limits{1u << 30, 64, 100000000, 100000000});
    if (!facts) return facts.error();
    out.commit = commit->str();
    out.info_hash = facts->info_hash;
    out.info_hash_v1 = facts->info_hash_v1;
    out.announce_key = facts->announce_key;
    out.total_size = facts->total_size;
    out.piece_length = facts->piece_length;
    out.files = facts->files.size();
    return out;
}

} // namespace llmpt
