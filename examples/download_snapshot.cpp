// Downloads a repo into the HuggingFace cache with the public API and prints
// where it went and where the bytes came from.
//
//   download_snapshot REPO [REVISION]      (HF_ENDPOINT, HF_HUB_CACHE, HF_TOKEN apply)
#include <llmpt/download.hpp>

#include <cstdio>
#include <type_traits>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s REPO [REVISION]\n", argv[0]);
        return 2;
    }
    llmpt::DownloadRequest req;
    req.repo = argv[1];
    if (argc > 2) req.revision = argv[2];

    const auto on_event = [](const llmpt::Event& e) {
        if (const auto* ready = std::get_if<llmpt::FileReadyEvent>(&e))
            std::fprintf(stderr, "ready: %s\n", ready->path.c_str());
    };
    const auto result = llmpt::download(llmpt::Settings::from_env(), req, on_event);
    if (!result) {
        std::fprintf(stderr, "error: %s\n", result.error().what().c_str());
        return result.error().exit_code();
    }
    std::printf("%s\n", result->path.c_str());
    std::fprintf(stderr, "%zu files, %llu bytes over HTTP, %llu already cached\n", result->files,
                 static_cast<unsigned long long>(result->bytes_http),
                 static_cast<unsigned long long>(result->bytes_cached));
    return 0;
}
