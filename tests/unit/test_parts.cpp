// torrent/parts.hpp: a snapshot torrent assembled from per-file parts is
// byte for byte the torrent libtorrent's own creator makes of the same files
// (so parts hashed on different machines give the info hash a complete cache
// gives), and it carries no file attributes.
#include <catch2/catch.hpp>

#include "torrent/inspect.hpp"
#include "torrent/parts.hpp"
#include "util/fd.hpp"

#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/torrent_info.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

using namespace llmpt;
namespace fs = std::filesystem;

namespace {

struct Tree {
    fs::path root = fs::temp_directory_path() / ("llmpt-parts-" + util::random_hex8());
    std::string commit = std::string(40, 'c');
    std::vector<std::pair<std::string, std::uint64_t>> files;

    explicit Tree(std::vector<std::pair<std::string, std::uint64_t>> f) : files(std::move(f)) {
        std::mt19937 rng(7);
        for (const auto& [path, size] : files) {
            const auto p = dir() / path;
            fs::create_directories(p.parent_path());
            std::string data(size, '\0');
            for (auto& c : data) c = static_cast<char>(rng());
            std::ofstream(p, std::ios::binary) << data;
        }
    }
    ~Tree() { fs::remove_all(root); }
    fs::path dir() const { return root / commit; }

    // libtorrent's creator over the same (path, size) list, no attributes.
    std::string reference(bool hybrid) const {
        lt::file_storage fs;
        std::uint64_t total = 0;
        for (const auto& [path, size] : files) {
            fs.add_file(commit + "/" + path, static_cast<std::int64_t>(size));
            total += size;
        }
        lt::create_torrent t(fs, static_cast<int>(torrent::piece_length_for(total)),
                             hybrid ? lt::create_flags_t{} : lt::create_torrent::v2_only);
        lt::set_piece_hashes(t, root.string());
        t.set_creator("llmpt");
        t.set_creation_date(0);
        std::string out;
        lt::bencode(std::back_inserter(out), t.generate());
        return out;
    }

    std::string ours(bool hybrid, int threads = 2) const {
        torrent::AssembleOptions o;
        o.hybrid = hybrid;
        auto r = torrent::make_snapshot_torrent(commit, {dir(), files}, o, threads);
        REQUIRE(r);
        return *r;
    }
};

constexpr std::uint64_t B = torrent::kBlockSize;
constexpr std::uint64_t PL = 256 * 1024; // the table's piece length below 100 MiB

bool any_attr(const std::string& data) {
    lt::error_code ec;
    const auto node = lt::bdecode({data.data(), static_cast<std::ptrdiff_t>(data.size())}, ec);
    REQUIRE(!ec);
    std::function<bool(lt::bdecode_node)> walk = [&](lt::bdecode_node n) {
        if (n.type() != lt::bdecode_node::dict_t) return false;
        for (int i = 0; i < n.dict_size(); ++i) {
            const auto [key, value] = n.dict_at(i);
            if (key == "attr" || walk(value)) return true;
        }
        return false;
    };
    return walk(node.dict_find_dict("info"));
}

} // namespace

TEST_CASE("assembled torrents equal libtorrent's, v2 and hybrid") {
    // One block, part of a piece, exactly a piece, several pieces with a
    // partial tail, an empty file, nested folders, unsorted input.
    Tree t({{"zeta/model.bin", 3 * PL + 2 * B + 7},
            {"config.json", 1000},
            {"a/b/c.txt", 3 * B + 5},
            {"exact.bin", PL},
            {"two.bin", 2 * PL},
            {"empty.txt", 0}});
    CHECK(t.ours(false) == t.reference(false));
    CHECK(t.ours(true) == t.reference(true));
    CHECK(t.ours(false, 1) == t.ours(false, 4));
    CHECK_FALSE(any_attr(t.ours(true)));
}

TEST_CASE("a one-file snapshot") {
    Tree t({{"model.safetensors", 5 * PL + 3}});
    CHECK(t.ours(false) == t.reference(false));
    CHECK(t.ours(true) == t.reference(true));
    auto f = torrent::inspect(t.ours(false));
    REQUIRE(f);
    CHECK(f->name == t.commit);
}

TEST_CASE("parts hashed apart assemble into the same torrent") {
    Tree t({{"a.bin", 4 * PL + 11}, {"b.bin", 100}, {"c.bin", PL + 1}});
    std::vector<torrent::FilePart> parts;
    for (const auto& [path, size] : t.files) {
        torrent::FilePart p{path, size, {}, {}};
        // Two ranges of pieces, as two workers (or two machines) would hash them.
        torrent::PieceHashing how;
        how.piece_length = PL;
        how.count = 2;
        auto head = torrent::hash_pieces(t.dir() / path, size, how);
        how.first = 2;
        how.count = 0;
        auto tail = torrent::hash_pieces(t.dir() / path, size, how);
        REQUIRE(head);
        REQUIRE(tail);
        p.pieces = *head;
        p.pieces.insert(p.pieces.end(), tail->begin(), tail->end());
        parts.push_back(std::move(p));
    }
    std::reverse(parts.begin(), parts.end());
    auto assembled = torrent::assemble(t.commit, parts);
    REQUIRE(assembled);
    CHECK(*assembled == t.reference(false));

    // Each part's root is the one libtorrent puts in the file tree.
    const lt::torrent_info ti(*assembled, lt::from_span);
    const auto index = torrent::snapshot_files(ti);
    for (const auto& p : parts) {
        const auto root = torrent::pieces_root(p, PL);
        const auto theirs = ti.files().root(index.at(p.path));
        INFO(p.path);
        CHECK(std::memcmp(root.data(), theirs.data(), 32) == 0);
    }
}

TEST_CASE("bad parts are refused by name") {
    torrent::FilePart p{"x.bin", 2 * PL, {torrent::Sha256Digest{}}, {}};
    auto r = torrent::assemble(std::string(40, 'c'), {p});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::usage);
    CHECK(r.error().message.find("x.bin") != std::string::npos);
    torrent::FilePart q{"x.bin", 1, {torrent::Sha256Digest{}}, {}};
    CHECK_FALSE(torrent::assemble(std::string(40, 'c'), {q, q}));
    CHECK_FALSE(torrent::assemble(std::string(40, 'c'), {}));
    CHECK_FALSE(torrent::assemble(std::string(40, 'c'), {q}, {"", true})); // hybrid without v1 hashes
}
