#include "download/hand_over.hpp"

#include "download/fetcher.hpp"
#include "util/fd.hpp"

#include <unistd.h>

namespace llmpt::fetch {

namespace fs = std::filesystem;

std::uint64_t hand_over(const Destination& dest, const Wanted& w, const fs::path& staged, std::uint64_t pl,
                        const std::vector<bool>& have) {
    const auto size = w.file.size;
    if (size == 0 || pl == 0) return 0;
    const std::uint64_t pieces = (size + pl - 1) / pl;
    std::vector<std::uint64_t> done(pieces, 0);
    std::uint64_t total = 0;
    for (std::uint64_t i = 0; i < pieces && i < have.size(); ++i) {
        if (!have[i]) continue;
        done[i] = std::min(pl, size - i * pl);
        total += done[i];
    }
    if (total == 0) return 0;
    const auto spot = dest.resume_spot(w);
    const std::string name = spot.tmp_stem + "." + util::random_hex8() + ".incomplete";
    const auto tmp = spot.tmp_dir / name;
    std::error_code ec;
    fs::create_directories(spot.tmp_dir, ec);
    if (::link(staged.c_str(), tmp.c_str()) != 0) return 0;
    // libtorrent may not have written the file's tail yet: give it its size
    // (sparse) so the fetcher accepts it.
    if (::truncate(tmp.c_str(), static_cast<off_t>(size)) != 0) {
        ::unlink(tmp.c_str());
        return 0;
    }
    if (!util::write_file_atomic(spot.journal, resume_journal(size, pl, name, done))) {
        ::unlink(tmp.c_str());
        return 0;
    }
    return total;
}

void drop_staged(const std::vector<std::pair<fs::path, fs::path>>& staged, const fs::path& staging) {
    for (const auto& [name, placed] : staged) util::unlink_if_same_file(name, placed);
    if (!staged.empty()) util::remove_empty_dirs(staging);
}

} // namespace llmpt::fetch
