// The llmpt error category and Error formatting.
#include <llmpt/error.hpp>

namespace llmpt {
namespace {

class Category final : public std::error_category {
public:
    const char* name() const noexcept override { return "llmpt"; }
    std::string message(int v) const override {
        switch (static_cast<errc>(v)) {
        case errc::ok: return "ok";
        case errc::failure: return "failure";
        case errc::usage: return "invalid arguments";
        case errc::not_found: return "not found";
        case errc::auth: return "authentication required or refused";
        case errc::network: return "network unreachable";
        case errc::integrity: return "integrity check failed";
        case errc::disk: return "disk error";
        case errc::interrupted: return "interrupted";
        }
        return "unknown llmpt error";
    }
};

} // namespace

const std::error_category& category() noexcept {
    static const Category c;
    return c;
}

std::string Error::what() const {
    if (context.empty()) return message;
    return message + " (" + context + ")";
}

} // namespace llmpt
