// llmpt::download()'s decisions with a fake Hub and no sockets
// (download/download_with.hpp): the cache answering alone, the Hub down or
// refusing, the selection, an endpoint without paths-info. Only cases that
// move no bytes: the transfers have their integration tests.
#include "download/download_with.hpp"

#include "cache/layout.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>

using namespace llmpt;

namespace {

const CommitId kDlCommit = *CommitId::parse("89abcdef0123456789abcdef0123456789abcdef");

hub::RemoteFile remote_file(const std::string& path, char etag, std::uint64_t size) {
    return hub::RemoteFile{path, size, *Etag::parse(std::string(64, etag)), true};
}

// A Hub that knows one commit of org/m, counts what it is asked and fails
// as told.
struct FakeHub final : hub::HubApi {
    std::vector<hub::RemoteFile> files{remote_file("config.json", 'c', 4), remote_file("model.bin", 'b', 9)};
    std::optional<Error> resolve_fails, list_fails;
    bool paths_info_missing = false; // a mirror without the route
    std::map<std::string, int> asked;

    Result<CommitId> resolve_revision(const RepoRef&, const std::string& revision) override {
        ++asked["resolve"];
        if (resolve_fails) return *resolve_fails;
        if (revision != "main" && revision != kDlCommit.str()) return Error(errc::not_found, "no such revision");
        return kDlCommit;
    }
    Result<std::vector<hub::RemoteFile>> list_files(const RepoRef&, const CommitId&) override {
        ++asked["list"];
        if (list_fails) return *list_fails;
        return files;
    }
    Result<std::vector<hub::RemoteFile>> paths_info(const RepoRef&, const CommitId&,
                                                    const std::vector<std::string>& paths) override {
        ++asked["paths_info"];
        if (paths_info_missing) return Error(errc::failure, "HTTP 404 for paths-info");
        std::vector<hub::RemoteFile> out;
        for (const auto& f : files)
            if (std::find(paths.begin(), paths.end(), f.path) != paths.end()) out.push_back(f);
        return out;
    }
    Result<hub::RemoteFile> file_metadata(const RepoRef&, const CommitId&, const std::string& path) override {
        ++asked["head"];
        for (const auto& f : files)
            if (f.path == path) return f;
        return Error(errc::not_found, path + ": not found");
    }
    std::string file_url(const RepoRef&, const CommitId&, const std::string& path) const override {
        return "http://127.0.0.1:9/org/m/resolve/" + kDlCommit.str() + "/" + path; // never fetched here
    }
    std::vector<std::string> auth_headers() const override { return {}; }
};

struct DownloadFixture {
    test::TempDir dir;
    FakeHub hub;
    Settings settings;
    DownloadRequest req;
    std::vector<Event> events;
    cache::RepoCache rc{dir.path, RepoRef{RepoType::model, *RepoId::parse("org/m")}};

    DownloadFixture() {
        settings.cache_dir = dir.path;
        settings.p2p = false;
        req.repo = "org/m";
    }
    // Puts a file's blob in the cache (a download before this one).
    void cache_blob(const hub::RemoteFile& f) {
        REQUIRE(rc.ensure_layout());
        std::ofstream(rc.blob_path(f.etag)) << std::string(f.size, 'x');
    }
    Result<DownloadResult> download() {
        return download_with(&hub, nullptr, settings, req, [this](const Event& e) { events.push_back(e); });
    }
    template <class E>
    std::vector<E> seen() const {
        std::vector<E> out;
        for (const auto& e : events)
            if (const auto* x = std::get_if<E>(&e)) out.push_back(*x);
        return out;
    }
};

} // namespace

TEST_CASE("download: blobs already cached are linked, refs written, nothing fetched") {
    DownloadFixture f;
    for (const auto& file : f.hub.files) f.cache_blob(file);
    auto r = f.download();
    REQUIRE(r);
    CHECK(r->commit == kDlCommit);
    CHECK(r->path == f.rc.snapshot_dir(kDlCommit));
    CHECK(r->bytes_total == 13);
    CHECK(r->bytes_cached == 13);
    CHECK(r->bytes_http == 0);
    CHECK_FALSE(r->offline);
    CHECK(f.rc.read_ref("main") == kDlCommit);
    CHECK(f.rc.snapshot_has(kDlCommit, "config.json"));
    CHECK(f.rc.snapshot_has(kDlCommit, "model.bin"));
    const auto plans = f.seen<PlanEvent>();
    REQUIRE(plans.size() == 1);
    CHECK(plans[0].files_total == 2);
    CHECK(plans[0].files_cached == 2);
    CHECK(f.seen<FileReadyEvent>().size() == 2);
    const auto manifest = cache::read_manifest(f.rc, kDlCommit);
    REQUIRE(manifest); // the commit's full list: the daemon seeds it without asking the Hub
    CHECK(manifest->size() == 2);
}

TEST_CASE("download: the Hub down answers from the cache, and says so when the cache cannot") {
    DownloadFixture f;
    for (const auto& file : f.hub.files) f.cache_blob(file);
    REQUIRE(f.download());
    f.hub.resolve_fails = Error(errc::network, "cannot reach the Hub");
    auto r = f.download();
    REQUIRE(r);
    CHECK(r->offline);
    CHECK(r->commit == kDlCommit);
    CHECK(r->files == 2);

    f.req.revision = "v2"; // never downloaded
    r = f.download();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::network);
    CHECK(r.error().message.find("is not in the cache") != std::string::npos);

    // The listing failing after the revision resolved is the Hub down too.
    f.req.revision = "main";
    f.hub.resolve_fails.reset();
    f.hub.list_fails = Error(errc::network, "connection reset");
    r = f.download();
    REQUIRE(r);
    CHECK(r->offline);
}

TEST_CASE("download: the Hub down, a commit whose list the cache keeps is completed without it") {
    DownloadFixture f;
    // The list of an earlier download that placed config.json only, and
    // model.bin's blob from another commit's download, not linked here yet.
    std::vector<cache::ManifestEntry> listed;
    for (const auto& file : f.hub.files) listed.push_back({file.path, file.etag, file.size});
    REQUIRE(f.rc.ensure_layout());
    REQUIRE(cache::write_manifest(f.rc, kDlCommit, listed));
    REQUIRE(f.rc.write_ref("main", kDlCommit));
    for (const auto& file : f.hub.files) f.cache_blob(file);
    REQUIRE(f.rc.link_snapshot(kDlCommit, "config.json", f.hub.files[0].etag));
    f.hub.resolve_fails = Error(errc::network, "cannot reach the Hub");

    // Without peers to ask, the cache alone cannot answer.
    auto r = f.download();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::network);
    CHECK(r.error().message.find("incomplete in the cache") != std::string::npos);

    // With them, the list stands in for the Hub's (no blob is missing here,
    // so no peer is asked either).
    f.settings.p2p = true;
    f.settings.tracker = "http://127.0.0.1:9";
    r = f.download();
    REQUIRE(r);
    CHECK_FALSE(r->offline);
    CHECK(r->commit == kDlCommit);
    CHECK(r->files == 2);
    CHECK(f.rc.snapshot_has(kDlCommit, "model.bin"));
    CHECK(f.hub.asked["list"] == 0);
    bool said = false;
    for (const auto& w : f.seen<WarningEvent>())
        said = said || w.message.find("checked against the file list the Hub gave before") != std::string::npos;
    CHECK(said);

    // A file the list does not hold is missing, not the Hub being down.
    f.req.files = {"missing.txt"};
    r = f.download();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::not_found);
    // A revision the cache never resolved stays unknown.
    f.req.files.clear();
    f.req.revision = "v2";
    r = f.download();
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("is not in the cache") != std::string::npos);
    // A commit's list is enough, before any of its files is in place.
    std::filesystem::remove_all(f.rc.snapshot_dir(kDlCommit));
    f.req.revision = kDlCommit.str();
    r = f.download();
    REQUIRE(r);
    CHECK(f.rc.snapshot_has(kDlCommit, "config.json"));
}

TEST_CASE("download: offline mode never asks the Hub; a refusal is not taken for the Hub being down") {
    DownloadFixture f;
    f.settings.offline = true;
    auto r = f.download();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::network);
    CHECK(f.hub.asked.empty());

    f.settings.offline = false;
    f.hub.resolve_fails = Error(errc::auth, "access to org/m refused (HTTP 401)");
    r = f.download();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::auth);
    f.req.revision = "no-such-branch";
    f.hub.resolve_fails.reset();
    r = f.download();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::not_found);
    CHECK_FALSE(std::filesystem::exists(f.rc.repo_dir() / "snapshots")); // nothing half-made
}

TEST_CASE("download: include and exclude pick from the commit's list; the manifest keeps all of it") {
    DownloadFixture f;
    f.cache_blob(f.hub.files[0]);
    f.req.include = {"*.json"};
    auto r = f.download();
    REQUIRE(r);
    CHECK(r->files == 1);
    CHECK(f.rc.snapshot_has(kDlCommit, "config.json"));
    CHECK_FALSE(f.rc.snapshot_has(kDlCommit, "model.bin"));
    CHECK(cache::read_manifest(f.rc, kDlCommit)->size() == 2);
}

TEST_CASE("download: named files use paths-info, or one HEAD each where the endpoint has none") {
    DownloadFixture f;
    f.cache_blob(f.hub.files[0]);
    f.req.files = {"config.json"};
    REQUIRE(f.download());
    CHECK(f.hub.asked["paths_info"] == 1);
    CHECK(f.hub.asked["head"] == 0);
    CHECK(f.hub.asked["list"] == 0);

    f.hub.paths_info_missing = true;
    REQUIRE(f.download());
    CHECK(f.hub.asked["head"] == 1);

    f.req.files = {"missing.txt"};
    auto r = f.download();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::not_found);
}
