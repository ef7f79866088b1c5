// llmpt cache import, llmpt verify: whole-cache operations.
#include "common.hpp"

#include <llmpt/cache.hpp>
#include <llmpt/settings.hpp>

#include <memory>

namespace llmpt::cli {

namespace {

struct ImportArgs {
    std::string dir, repo, repo_type = "model", revision = "main", cache_dir;
};

struct VerifyArgs {
    std::string repo, repo_type = "model", revision = "main", cache_dir;
};

std::filesystem::path cache_root(const std::string& flag) {
    return flag.empty() ? default_cache_dir() : std::filesystem::path(flag);
}

int run_import(const ImportArgs& a) {
    const auto type = repo_type_option(a.repo_type);
    if (!type) return usage_error("--repo-type must be model, dataset or space");
    auto r = import_folder(ImportRequest{a.dir, a.repo, *type, a.revision, cache_root(a.cache_dir)});
    if (!r) return report(r.error());
    fmt::print("{}\n", r->commit.str());
    return 0;
}

int run_verify(const VerifyArgs& a) {
    const auto type = repo_type_option(a.repo_type);
    if (!type) return usage_error("--repo-type must be model, dataset or space");
    auto id = RepoId::parse(a.repo);
    if (!id) return report(id.error());
    auto r = verify_snapshot(cache_root(a.cache_dir), RepoRef{*type, *id}, a.revision);
    if (!r) return report(r.error());
    for (const auto& p : r->problems) fmt::print("BAD {}: {}\n", p.path, p.reason);
    fmt::print(stderr, "{}@{}: {} files checked, {} bad\n", a.repo, r->commit.str(), r->files_checked, r->problems.size());
    return r->ok() ? 0 : static_cast<int>(errc::integrity);
}

} // namespace

Runner add_cache(CLI::App& app) {
    auto a = std::make_shared<ImportArgs>();
    auto* cache = app.add_subcommand("cache", "Manage the local cache");
    cache->require_subcommand(1);
    auto* cmd = cache->add_subcommand("import", "Make a cache repo from a plain folder; prints the commit");
    cmd->add_option("dir", a->dir, "Folder to import")->required();
    cmd->add_option("--repo", a->repo, "Repo id to file it under, e.g. org/name")->required();
    cmd->add_option("--repo-type", a->repo_type, "model, dataset or space")->capture_default_str();
    cmd->add_option("--revision", a->revision, "Ref to point at the new commit")->capture_default_str();
    cmd->add_option("--cache-dir", a->cache_dir, "Cache root (default: the HF cache)");
    return [a] { return run_import(*a); };
}

Runner add_verify(CLI::App& app) {
    auto a = std::make_shared<VerifyArgs>();
    auto* cmd = app.add_subcommand("verify", "Rehash a cached snapshot; exit 6 naming each bad file");
    cmd->add_option("repo", a->repo, "Repo id")->required();
    cmd->add_option("--revision", a->revision, "Revision or commit")->capture_default_str();
    cmd->add_option("--repo-type", a->repo_type, "model, dataset or space")->capture_default_str();
    cmd->add_option("--cache-dir", a->cache_dir, "Cache root (default: the HF cache)");
    return [a] { return run_verify(*a); };
}

} // namespace llmpt::cli
