// A folder of the unit tests' own under the system's temp dir, removed with
// everything in it when the test ends.
#pragma once

#include "util/fd.hpp"

#include <filesystem>

namespace llmpt::test {

struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::filesystem::path& under = std::filesystem::temp_directory_path())
        : path(under / ("llmpt-unit-" + util::random_hex8())) {
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

} // namespace llmpt::test
