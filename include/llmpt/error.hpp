// Recoverable errors as values: llmpt::Error and llmpt::Result<T>.
//
// Every failure that can come from the outside world (the Hub, the disk, the
// network, a user's arguments) is returned as an Error, never thrown. The
// error codes map one-to-one onto the CLI's exit codes (docs/design.md, "CLI and exit codes"), so a
// caller can always tell "not found" from "no network" from "bad bytes".
#pragma once

#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace llmpt {

// The values are the CLI exit codes.
enum class errc {
    ok = 0,
    failure = 1,       // anything not covered below
    usage = 2,         // invalid arguments
    not_found = 3,     // repo, revision or file not found
    auth = 4,          // 401/403/gated
    network = 5,       // no endpoint reachable and nothing cached
    integrity = 6,     // hash or size mismatch from every source
    disk = 7,          // no space, no permission
    interrupted = 130, // cancelled by the caller or a signal
};

const std::error_category& category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category()};
}

// Finer than the code, for callers that decide on it (retry elsewhere, fall
// back, report differently); never parse `message` for this.
enum class Cause {
    unspecified = 0,
    unreachable,  // no connection: refused, no route, the host does not resolve
    timed_out,    // connected (or trying) but no answer in time
};

struct Error {
    errc code = errc::failure;
    std::string message; // one line, for a human
    std::string context; // what was being done: a URL, a path, a file name
    Cause cause = Cause::unspecified;

    Error() = default;
    Error(errc c, std::string msg, std::string ctx = {}, Cause why = Cause::unspecified)
        : code(c), message(std::move(msg)), context(std::move(ctx)), cause(why) {}

    // "message (context)" or just "message".
    std::string what() const;
    int exit_code() const noexcept { return static_cast<int>(code); }
};

// Either a value or an Error. Deliberately small: has_value(), value(),
// error(), and explicit bool.
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const& { return std::get<1>(v_); }
    Error&& error() && { return std::get<1>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
struct Ok {};
using Status = Result<Ok>;
inline Status ok() { return Ok{}; }

} // namespace llmpt

template <>
struct std::is_error_code_enum<llmpt::errc> : std::true_type {};
