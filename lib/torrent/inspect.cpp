#include "torrent/inspect.hpp"

#include "hub/hub.hpp"
#include "util/hash.hpp"

#include <fmt/format.h>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/torrent_info.hpp>

#include <algorithm>
#include <cstring>
#include <set>

namespace llmpt::torrent {

namespace {
Error bad(const std::string& field, const std::string& why) {
    return Error(errc::usage, field + ": " + why);
}
} // namespace

std::uint64_t piece_length_for(std::uint64_t total) {
    constexpr std::uint64_t MiB = 1ull << 20, GiB = 1ull << 30, TiB = 1ull << 40;
    if (total < 100 * MiB) return 256 * 1024;
    if (total < 1 * GiB) return 1 * MiB;
    if (total < 10 * GiB) return 4 * MiB;
    if (total < 100 * GiB) return 16 * MiB;
    if (total < 1 * TiB) return 32 * MiB;
    return 64 * MiB;
}

Result<TorrentFacts> inspect(std::string_view bytes, const Limits& limits) {
    if (bytes.size() > limits.max_bytes)
        return bad("torrent_data", "larger than " + std::to_string(limits.max_bytes) + " bytes");
    lt::error_code ec;
    int error_pos = 0;
    const auto node = lt::bdecode({bytes.data(), static_cast<std::ptrdiff_t>(bytes.size())}, ec, &error_pos,
                                  limits.max_depth, limits.max_tokens);
    if (ec) return bad("torrent_data", "not bencoded (" + ec.message() + " at byte " + std::to_string(error_pos) + ")");
    lt::torrent_info ti(node, ec);
    if (ec) return bad("torrent_data", "not a valid torrent (" + ec.message() + ")");
    if (ti.num_pieces() > limits.max_pieces) return bad("torrent_data", "too many pieces");

    const auto hashes = ti.info_hashes();
    if (!hashes.has_v2()) return bad("torrent_data", "not a BitTorrent v2 torrent");
    const std::string v1 = hashes.has_v1() ? util::to_hex({hashes.v1.data(), hashes.v1.size()}) : "";
    // The name as the info dict says it: libtorrent reports a one-file v2
    // torrent under its file's name, and a snapshot torrent is named by its commit (docs/design.md, "Torrents").
    TorrentFacts f{.name = std::string(node.dict_find_dict("info").dict_find_string_value("name")),
                   .info_hash = *InfoHash::parse(util::to_hex({hashes.v2.data(), hashes.v2.size()}), v1)};
    f.piece_length = static_cast<std::uint64_t>(ti.piece_length());

    const auto& fs = ti.files();
    const std::string root = f.name + "/";
    for (const auto i : fs.file_range()) {
        const auto flags = fs.file_flags(i);
        if (flags & lt::file_storage::flag_pad_file) continue;
        if (flags & lt::file_storage::flag_symlink) f.has_symlinks = true;
        std::string path = fs.file_path(i);
        if (path.compare(0, root.size(), root) == 0) path.erase(0, root.size());
        if ((flags & (lt::file_storage::flag_executable | lt::file_storage::flag_hidden)) && f.attributed.empty())
            f.attributed = path;
        const auto size = static_cast<std::uint64_t>(fs.file_size(i));
        f.files.push_back({std::move(path), size});
        f.total_size += size;
    }
    return f;
}

std::string storage_path(const lt::torrent_info& ti, const std::filesystem::path& staging, const std::string& commit) {
    const auto& fs = ti.files();
    const std::string root = ti.name() + "/";
    for (const auto i : fs.file_range()) {
        if (fs.file_flags(i) & lt::file_storage::flag_pad_file) continue;
        if (fs.file_path(i).compare(0, root.size(), root) == 0) return staging.string();
        break;
    }
    return (staging / commit).string();
}

std::map<std::string, lt::file_index_t> snapshot_files(const lt::torrent_info& ti) {
    const auto& fs = ti.files();
    const std::string root = ti.name() + "/";
    std::map<std::string, lt::file_index_t> index;
    for (const auto i : fs.file_range()) {
        if (fs.file_flags(i) & lt::file_storage::flag_pad_file) continue;
        auto path = fs.file_path(i);
        if (path.compare(0, root.size(), root) == 0) path.erase(0, root.size());
        index.emplace(std::move(path), i);
    }
    return index;
}

std::vector<int> pieces_hashed_as(const lt::torrent_info& ti,
                                  const std::map<std::string, std::map<std::uint64_t, std::array<unsigned char, 32>>>& hashed) {
    std::vector<int> out;
    if (!ti.info_hashes().has_v2()) return out;
    const auto index = snapshot_files(ti);
    for (const auto& [path, hashes] : hashed) {
        const auto it = index.find(path);
        if (it == index.end() || ti.files().file_size(it->second) == 0) continue;
        const auto layer = ti.piece_layer(it->second); // the root for a file of one piece
        const auto first = static_cast<int>(ti.files().map_file(it->second, 0, 0).piece);
        for (const auto& [i, hash] : hashes) {
            const auto at = i * hash.size();
            if (at + hash.size() > static_cast<std::uint64_t>(layer.size())) continue;
            if (std::memcmp(layer.data() + at, hash.data(), hash.size()) == 0) out.push_back(first + static_cast<int>(i));
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

Status check_snapshot_torrent(const TorrentFacts& t, const std::string& revision) {
    if (t.name.size() != 40 || !is_hex(t.name) || t.name != revision)
        return bad("name", "must be the 40-hex commit '" + revision + "', got '" + t.name + "'");
    if (t.piece_length != piece_length_for(t.total_size))
        return bad("piece_length", fmt::format("must be {} for {} bytes, got {}", piece_length_for(t.total_size),
                                               t.total_size, t.piece_length));
    if (t.files.empty()) return bad("files", "the torrent has no files");
    if (t.has_symlinks) return bad("files", "symlinks are not allowed");
    if (!t.attributed.empty())
        return bad("files", "file attributes are not allowed (" + t.attributed +
                                " has one; model files are data: make the torrent again with this version)");
    std::set<std::string> seen;
    for (const auto& file : t.files) {
        if (!hub::safe_repo_path(file.path)) return bad("files", "unsafe path '" + file.path + "'");
        if (!seen.insert(file.path).second) return bad("files", "duplicate path '" + file.path + "'");
    }
    return ok();
}

std::optional<std::string> differs_from_hub(const std::vector<FileFact>& files,
                                            const std::vector<hub::RemoteFile>& hub_files) {
    std::map<std::string, std::uint64_t> ours, theirs;
    for (const auto& f : hub_files) theirs[f.path] = f.size;
    for (const auto& f : files) ours[f.path] = f.size;
    for (const auto& [path, size] : ours) {
        auto it = theirs.find(path);
        if (it == theirs.end()) return "the torrent has a file the Hub does not: " + path;
        if (it->second != size) return "the torrent's size of " + path + " is not the Hub's";
    }
    for (const auto& [path, _] : theirs)
        if (!ours.count(path)) return "the torrent lacks " + path;
    return std::nullopt;
}

} // namespace llmpt::torrent
