// llmpt: download HuggingFace repos from peers that have them, over HTTP
// when nobody does. This file only wires the subcommands together.
#include "common.hpp"


int main(int argc, char** argv) {
    CLI::App app{"llmpt: move HuggingFace models between machines (BitTorrent with HTTP fallback)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "llmpt 0.1.0");
    app.footer("Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 auth, 5 network, 6 integrity, "
               "7 disk, 130 interrupted.");

    const auto download = llmpt::cli::add_download(app);
    const auto serve = llmpt::cli::add_serve(app);
    const auto cache = llmpt::cli::add_cache(app);
    const auto verify = llmpt::cli::add_verify(app);
    const auto create_torrent = llmpt::cli::add_create_torrent(app);
    const auto seed = llmpt::cli::add_seed(app);
    const auto daemon = llmpt::cli::add_daemon(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        return llmpt::cli::usage_error(e.what());
    }
    if (app.got_subcommand("download")) return download();
    if (app.got_subcommand("serve")) return serve();
    if (app.got_subcommand("cache")) return cache();
    if (app.got_subcommand("verify")) return verify();
    if (app.got_subcommand("create-torrent")) return create_torrent();
    if (app.got_subcommand("seed")) return seed();
    if (app.got_subcommand("daemon")) return daemon();
    return llmpt::cli::usage_error("no command given");
}
