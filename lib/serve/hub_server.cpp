// The answers of `llmpt serve`: revision, tree, paths-info, resolve and the
// CDN stand-in, computed from the cache's snapshots and blobs.
#include <llmpt/serve.hpp>

#include "cache/layout.hpp"
#include "endpoint/mirror.hpp"
#include "serve/routes.hpp"
#include "server/http_server.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"
#include "util/time.hpp"
#include "util/url.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <map>
#include <set>

namespace llmpt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using server::Response;

struct FileInfo {
    std::string path;
    Etag etag;
    std::uint64_t size;
    bool lfs() const { return etag.kind() == Etag::Kind::sha256; }
};

// The git blob id of the LFS pointer file the Hub stores for an LFS file.
std::string lfs_pointer_oid(const FileInfo& f) {
    const std::string pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + f.etag.str() +
                                "\nsize " + std::to_string(f.size) + "\n";
    return util::git_blob_sha1_hex(pointer);
}

std::size_t lfs_pointer_size(const FileInfo& f) {
    return std::string("version https://git-lfs.github.com/spec/v1\noid sha256:").size() + 64 +
           std::string("\nsize ").size() + std::to_string(f.size).size() + 1;
}

json file_entry(const FileInfo& f) {
    json e = {{"type", "file"}, {"path", f.path}, {"size", f.size},
              {"oid", f.lfs() ? lfs_pointer_oid(f) : f.etag.str()}};
    if (f.lfs()) e["lfs"] = {{"oid", f.etag.str()}, {"size", f.size}, {"pointerSize", lfs_pointer_size(f)}};
    return e;
}

// What `expand=true` adds to a tree or paths-info entry, as the Hub sends
// it. A cache knows no git history: the last commit of every entry is the
// snapshot's own commit (so @huggingface/hub names the snapshot folder
// after it), dated by the snapshot folder. Nothing here scanned the files.
struct CommitInfo {
    std::string id, date;
};

json expanded(json entry, const CommitInfo& c) {
    entry["lastCommit"] = {{"id", c.id}, {"title", "snapshot served by llmpt"}, {"date", c.date}};
    if (entry["type"] == "file") entry["securityFileStatus"] = {{"status", "unscanned"}};
    return entry;
}

CommitInfo commit_info(const cache::RepoCache& cache, const CommitId& commit) {
    struct stat st {};
    const auto when = ::stat(cache.snapshot_dir(commit).c_str(), &st) == 0 ? st.st_mtime : std::time(nullptr);
    return {commit.str(), util::iso8601_millis(when)};
}

Response hub_error(int status, const std::string& code, const std::string& message) {
    auto r = Response::json_error(status, message);
    r.header("X-Error-Code", code);
    return r;
}

class HubServer {
public:
    explicit HubServer(ServeOptions o) : o_(std::move(o)) {}

    Response handle(const server::Request& req) {
        const auto route = serve::parse_route(req.method, req.path);
        if (!route) {
            if (req.path.find("..") != std::string::npos || req.path.find("%2") != std::string::npos)
                return Response::json_error(400, "invalid path");
            return Response::json_error(404, "not found");
        }
        if (route->route == serve::Route::cdn) return cdn(req, *route);
        if (auto denied = check_token(req, *route)) return *denied;

        auto id = RepoId::parse(route->repo);
        if (!id) return hub_error(404, "RepoNotFound", "Repository not found");
        const RepoRef repo{route->type, *id};
        const cache::RepoCache cache(o_.cache_dir, repo);
        std::error_code ec;
        if (!fs::is_directory(cache.repo_dir() / "snapshots", ec))
            return hub_error(404, "RepoNotFound", "Repository " + repo.id.str() + " not found");
        const auto commit = cache::safe_revision(route->revision) ? cache.resolve_offline(route->revision)
                                                                   : std::nullopt;
        if (!commit)
            return hub_error(404, "RevisionNotFound", "Invalid rev id: " + route->revision);
        // A resolve needs one file, not the listing of the whole snapshot.
        if (route->route == serve::Route::resolve) return resolve(req, *route, cache, *commit);
        auto files = list(cache, *commit);
        if (!files) return Response::json_error(500, files.error().what());

        switch (route->route) {
        case serve::Route::revision: return revision(req, repo, commit_info(cache, *commit), *files);
        case serve::Route::tree: return tree(req, *route, commit_info(cache, *commit), *files);
        case serve::Route::paths_info: return paths_info(req, commit_info(cache, *commit), *files);
        case serve::Route::resolve:
        case serve::Route::cdn: break;
        }
        return Response::json_error(404, "not found");
    }

private:
    std::optional<Response> check_token(const server::Request& req, const serve::Parsed& route) {
        if (o_.token.empty()) return std::nullopt;
        const auto auth = req.header("authorization");
        const std::string what = std::string(to_string(route.type)) + " " + route.repo;
        if (auth.empty())
            return hub_error(401, "GatedRepo",
                             "Access to " + what + " is restricted. You must be authenticated to access it.");
        if (auth != "Bearer " + o_.token)
            return hub_error(403, "GatedRepo", "Access to " + what + " is restricted and your token was refused.");
        return std::nullopt;
    }

    // One file of a snapshot: its symlink must point at ../blobs/{etag}.
    std::optional<FileInfo> lookup(const cache::RepoCache& cache, const CommitId& commit,
                                   const std::string& path) {
        std::error_code ec;
        const auto target = fs::read_symlink(cache.snapshot_dir(commit) / path, ec);
        if (ec) return std::nullopt;
        const auto etag = Etag::parse(target.filename().string());
        if (!etag || target.string() != cache::blob_link_target(path, *etag)) return std::nullopt;
        struct stat st {};
        if (::stat(cache.blob_path(*etag).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
        return FileInfo{path, *etag, static_cast<std::uint64_t>(st.st_size)};
    }

    Result<std::map<std::string, FileInfo>> list(const cache::RepoCache& cache, const CommitId& commit) {
        auto links = cache.snapshot_files(commit);
        if (!links) return links.error();
        std::map<std::string, FileInfo> out;
        for (const auto& [path, etag] : *links) {
            struct stat st {};
            if (::stat(cache.blob_path(etag).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
            out.emplace(path, FileInfo{path, etag, static_cast<std::uint64_t>(st.st_size)});
        }
        return out;
    }

    Response json_response(const json& j) {
        Response r;
        // A file name in the cache need not be UTF-8.
        r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
        r.header("Content-Type", "application/json; charset=utf-8");
        return r;
    }

    // The fields @huggingface/hub's modelInfo reads are always there
    // (`expand[]` on the Hub picks some; a superset does no harm).
    Response revision(const server::Request& req, const RepoRef& repo, const CommitInfo& commit,
                      const std::map<std::string, FileInfo>& files) {
        const bool blobs = req.query.find("blobs=true") != std::string::npos ||
                           req.query.find("blobs=1") != std::string::npos;
        json siblings = json::array();
        for (const auto& [path, f] : files) {
            json s = {{"rfilename", path}};
            if (blobs) {
                s["size"] = f.size;
                s["blobId"] = f.lfs() ? lfs_pointer_oid(f) : f.etag.str();
                if (f.lfs()) s["lfs"] = {{"sha256", f.etag.str()}, {"size", f.size}, {"pointerSize", lfs_pointer_size(f)}};
            }
            siblings.push_back(std::move(s));
        }
        return json_response({{"_id", util::sha256_hex(repo.folder_name()).substr(0, 24)},
                              {"id", repo.id.str()},
                              {"sha", commit.id},
                              {"lastModified", commit.date},
                              {"siblings", siblings},
                              {"private", !o_.token.empty()},
                              {"gated", o_.token.empty() ? json(false) : json("auto")},
                              {"disabled", false},
                              {"downloads", 0},
                              {"likes", 0},
                              {"tags", json::array()}});
    }

    Response tree(const server::Request& req, const serve::Parsed& route, const CommitInfo& commit,
                  const std::map<std::string, FileInfo>& files) {
        const auto q = server::parse_query(req.query);
        const auto flag = [&](const char* k) {
            auto it = q.find(k);
            return it != q.end() && !it->second.empty() && (it->second[0] == "true" || it->second[0] == "1");
        };
        const bool recursive = flag("recursive");
        const std::string prefix = route.path.empty() ? "" : route.path + "/";
        if (!route.path.empty() && files.count(route.path))
            return hub_error(404, "EntryNotFound", route.path + " is a file, not a folder");

        // Entries (folders and files) under the prefix, sorted by path.
        std::map<std::string, json> entries;
        for (const auto& [path, f] : files) {
            if (path.compare(0, prefix.size(), prefix) != 0) continue;
            const auto rest = path.substr(prefix.size());
            std::size_t slash = 0;
            while ((slash = rest.find('/', slash)) != std::string::npos) {
                const auto dir = prefix + rest.substr(0, slash);
                if (!entries.count(dir))
                    entries[dir] = {{"type", "directory"}, {"path", dir},
                                    {"oid", util::git_blob_sha1_hex(commit.id + ":" + dir)}};
                if (!recursive) break;
                ++slash;
            }
            if (recursive || rest.find('/') == std::string::npos) entries[path] = file_entry(f);
        }
        if (!route.path.empty() && entries.empty())
            return hub_error(404, "EntryNotFound", "No such folder: " + route.path);

        std::size_t cursor = 0;
        if (auto it = q.find("cursor"); it != q.end() && !it->second.empty()) {
            try { cursor = std::stoul(it->second[0]); } catch (...) {
                return Response::json_error(400, "invalid cursor");
            }
        }
        const std::size_t page = std::max<std::size_t>(1, o_.tree_page_size);
        const bool expand = flag("expand");
        json out = json::array();
        std::size_t i = 0;
        for (auto& [_, e] : entries) {
            if (i >= cursor && i < cursor + page) out.push_back(expand ? expanded(e, commit) : e);
            ++i;
        }
        auto r = json_response(out);
        if (cursor + page < entries.size()) {
            const auto host = req.header("host");
            std::string next = "http://" + (host.empty() ? o_.host + ":" + std::to_string(port_) : host) +
                               req.path + "?";
            if (recursive) next += "recursive=true&";
            if (expand) next += "expand=true&";
            next += "cursor=" + std::to_string(cursor + page);
            r.header("Link", "<" + next + ">; rel=\"next\"");
        }
        return r;
    }

    Response paths_info(const server::Request& req, const CommitInfo& commit,
                        const std::map<std::string, FileInfo>& files) {
        std::vector<std::string> paths;
        bool expand = false;
        const auto type = req.header("content-type");
        if (type.rfind("application/x-www-form-urlencoded", 0) == 0) {
            const auto form = server::parse_query(req.body);
            if (auto it = form.find("paths"); it != form.end()) paths = it->second;
            if (auto it = form.find("expand"); it != form.end() && !it->second.empty())
                expand = it->second[0] == "true" || it->second[0] == "1";
        } else {
            const json j = json::parse(req.body, nullptr, false);
            if (j.is_discarded() || !j.is_object() || !j.contains("paths"))
                return Response::json_error(400, "expected {\"paths\": [...]}");
            if (auto e = j.find("expand"); e != j.end()) expand = e->is_boolean() && e->get<bool>();
            const auto& p = j["paths"];
            if (p.is_string()) paths.push_back(p.get<std::string>());
            else if (p.is_array()) {
                for (const auto& e : p) {
                    if (!e.is_string()) return Response::json_error(400, "paths must be strings");
                    paths.push_back(e.get<std::string>());
                }
            } else return Response::json_error(400, "paths must be a list");
        }
        if (paths.size() > 10000) return Response::json_error(400, "too many paths");
        json out = json::array();
        std::set<std::string> dirs;
        for (const auto& [path, _] : files)
            for (auto s = path.find('/'); s != std::string::npos; s = path.find('/', s + 1))
                dirs.insert(path.substr(0, s));
        for (const auto& p : paths) {
            json e;
            if (auto it = files.find(p); it != files.end()) e = file_entry(it->second);
            else if (dirs.count(p)) e = {{"type", "directory"}, {"path", p}, {"oid", util::git_blob_sha1_hex(commit.id + ":" + p)}};
            else continue;
            out.push_back(expand ? expanded(std::move(e), commit) : std::move(e));
        }
        return json_response(out);
    }

    Response resolve(const server::Request& req, const serve::Parsed& route, const cache::RepoCache& cache,
                     const CommitId& commit) {
        const auto found = lookup(cache, commit, route.path);
        if (!found) {
            auto r = hub_error(404, "EntryNotFound", route.path + " does not exist at " + commit.str());
            r.header("X-Repo-Commit", commit.str());
            return r;
        }
        const FileInfo& f = *found;
        if (o_.redirect && f.lfs()) {
            Response r;
            r.status = 302;
            const auto folder = cache.repo().folder_name();
            r.header("Location", "/_cdn/" + folder + "/" + f.etag.str() + "?sig=" + sign(folder, f.etag.str()));
            r.header("X-Repo-Commit", commit.str());
            r.header("X-Linked-Etag", "\"" + f.etag.str() + "\"");
            r.header("X-Linked-Size", std::to_string(f.size));
            r.header("ETag", "\"" + lfs_pointer_oid(f) + "\"");
            return r;
        }
        auto r = send_blob(req, cache.blob_path(f.etag), f.size);
        r.header("X-Repo-Commit", commit.str());
        r.header("ETag", "\"" + f.etag.str() + "\"");
        if (f.lfs()) {
            r.header("X-Linked-Etag", "\"" + f.etag.str() + "\"");
            r.header("X-Linked-Size", std::to_string(f.size));
        }
        return r;
    }

    // The CDN stand-in: blobs by repo folder and etag, signed when gated.
    Response cdn(const server::Request& req, const serve::Parsed& route) {
        const auto etag = Etag::parse(route.cdn_etag);
        if (!etag || route.cdn_folder.find("--") == std::string::npos || route.cdn_folder.front() == '.')
            return Response::json_error(404, "not found");
        if (!o_.token.empty()) {
            const auto q = server::parse_query(req.query);
            const auto it = q.find("sig");
            if (it == q.end() || it->second.empty() || it->second[0] != sign(route.cdn_folder, etag->str()))
                return Response::json_error(403, "bad signature");
        }
        const auto blob = o_.cache_dir / route.cdn_folder / "blobs" / etag->str();
        struct stat st {};
        if (::lstat(blob.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return Response::json_error(404, "not found");
        auto r = send_blob(req, blob, static_cast<std::uint64_t>(st.st_size));
        r.header("ETag", "\"" + etag->str() + "\"");
        return r;
    }

    std::string sign(const std::string& folder, const std::string& etag) const {
        return util::sha256_hex(o_.token + "\n" + folder + "\n" + etag).substr(0, 32);
    }

    Response send_blob(const server::Request& req, const fs::path& blob, std::uint64_t size) {
        Response r;
        r.header("Accept-Ranges", "bytes");
        r.header("Content-Type", "application/octet-stream");
        std::uint64_t first = 0, length = size;
        if (const auto range = req.header("range"); !range.empty()) {
            const auto spec = serve::parse_range(range, size);
            if (!spec) {
                auto e = Response::json_error(416, "range not satisfiable");
                e.header("Content-Range", "bytes */" + std::to_string(size));
                return e;
            }
            first = spec->first;
            length = spec->last - spec->first + 1;
            if (length != size || first != 0) {
                r.status = 206;
                r.header("Content-Range", fmt::format("bytes {}-{}/{}", spec->first, spec->last, size));
            }
        }
        auto fd = util::open_fd(blob, O_RDONLY);
        if (!fd) return Response::json_error(500, "cannot open blob");
        r.file = server::FileRegion{fd->release(), first, length};
        return r;
    }

public:
    std::uint16_t port_ = 0;

private:
    ServeOptions o_;
};

class ServerImpl final : public Server {
public:
    ServerImpl(std::shared_ptr<HubServer> hub, std::unique_ptr<server::HttpServer> http)
        : hub_(std::move(hub)), http_(std::move(http)) {}
    std::uint16_t port() const override { return http_->port(); }
    void stop() override { http_->stop(); }
    void wait() override { http_->wait(); }

private:
    std::shared_ptr<HubServer> hub_;
    std::unique_ptr<server::HttpServer> http_;
};

} // namespace

Result<std::unique_ptr<Server>> Server::start(ServeOptions o) {
    std::error_code ec;
    if (!fs::is_directory(o.cache_dir, ec))
        return Error(errc::usage, "cache folder does not exist", o.cache_dir.string());
    if (!o.upstream.empty()) return endpoint::start_mirror(o);
    server::Options so;
    so.host = o.host;
    so.port = o.port;
    so.threads = o.threads;
    so.max_connections = o.max_connections;
    so.log = o.log;
    auto hub = std::make_shared<HubServer>(o);
    auto http = server::HttpServer::start(so, [hub](const server::Request& r) { return hub->handle(r); });
    if (!http) return http.error();
    hub->port_ = (*http)->port();
    return std::unique_ptr<Server>(std::make_unique<ServerImpl>(hub, std::move(*http)));
}

} // namespace llmpt
