// File selection with huggingface_hub's allow_patterns/ignore_patterns rules.
#include <llmpt/download.hpp>

#include <fnmatch.h>

namespace llmpt {
namespace {

bool matches(const std::string& path, std::string pattern) {
    // huggingface_hub: a pattern ending in "/" means everything below it.
    if (!pattern.empty() && pattern.back() == '/') pattern += '*';
    // No FNM_PATHNAME: '*' crosses '/', as Python's fnmatch. No escapes either.
    return ::fnmatch(pattern.c_str(), path.c_str(), FNM_NOESCAPE) == 0;
}

} // namespace

bool path_selected(const std::string& path, const std::vector<std::string>& include,
                   const std::vector<std::string>& exclude) {
    if (!include.empty()) {
        bool any = false;
        for (const auto& p : include)
            if (matches(path, p)) { any = true; break; }
        if (!any) return false;
    }
    for (const auto& p : exclude)
        if (matches(path, p)) return false;
    return true;
}

} // namespace llmpt
