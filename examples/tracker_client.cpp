// Talks to an llmpt tracker with the public TrackerClient API.
//
//   tracker_client URL lookup REPO REVISION [REPO_TYPE]
//   tracker_client URL fetch  REPO REVISION [REPO_TYPE] > file.torrent
//   tracker_client URL publish REPO REVISION FILE.torrent [TOKEN]
#include <llmpt/tracker.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s URL lookup|fetch|publish REPO REVISION [...]\n", argv[0]);
        return 2;
    }
    const std::string url = argv[1], verb = argv[2], repo = argv[3], revision = argv[4];
    llmpt::TrackerOptions options;
    if (verb == "publish" && argc > 6) options.publish_token = argv[6];
    llmpt::TrackerClient client(url, options);
    const auto type = (verb != "publish" && argc > 5) ? llmpt::parse_repo_type(argv[5]) : llmpt::RepoType::model;
    if (!type) return 2;

    if (verb == "lookup") {
        auto r = client.lookup(*type, repo, revision);
        if (!r) {
            std::fprintf(stderr, "error: %s\n", r.error().what().c_str());
            return r.error().exit_code();
        }
        if (!*r) {
            std::printf("none\n");
            return 0;
        }
        const auto& t = **r;
        std::printf("%s %s files=%llu size=%llu seeders=%llu\n", t.info_hash.v2().c_str(), t.info_hash.announce_key().c_str(),
                    static_cast<unsigned long long>(t.file_count), static_cast<unsigned long long>(t.total_size),
                    static_cast<unsigned long long>(t.seeders));
        return 0;
    }
    if (verb == "fetch") {
        auto r = client.fetch_torrent(*type, repo, revision);
        if (!r) {
            std::fprintf(stderr, "error: %s\n", r.error().what().c_str());
            return r.error().exit_code();
        }
        std::cout.write(r->data(), static_cast<std::streamsize>(r->size()));
        return 0;
    }
    if (verb == "publish" && argc > 5) {
        std::ifstream in(argv[5], std::ios::binary);
        std::stringstream data;
        data << in.rdbuf();
        auto r = client.publish(llmpt::RepoType::model, repo, revision, data.str());
        if (!r) {
            std::fprintf(stderr, "error: %s\n", r.error().what().c_str());
            return r.error().exit_code();
        }
        std::printf("%s %s\n", std::string(llmpt::to_string(r->status)).c_str(), r->info_hash.v2().c_str());
        return 0;
    }
    std::fprintf(stderr, "unknown command %s\n", verb.c_str());
    return 2;
}
