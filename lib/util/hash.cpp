#include "util/hash.hpp"

#include "util/fd.hpp"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace llmpt::util {

struct Hasher::Impl {
    EVP_MD_CTX* ctx = nullptr;
    ~Impl() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(Algo algo) : impl_(std::make_unique<Impl>()) {
    impl_->ctx = EVP_MD_CTX_new();
    const EVP_MD* md = algo == Algo::sha256 ? EVP_sha256() : EVP_sha1();
    if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, md, nullptr) != 1)
        throw std::runtime_error("OpenSSL digest init failed");
}

Hasher::Hasher(const Hasher& other) : impl_(std::make_unique<Impl>()) {
    impl_->ctx = EVP_MD_CTX_new();
    if (!impl_->ctx || EVP_MD_CTX_copy_ex(impl_->ctx, other.impl_->ctx) != 1)
        throw std::runtime_error("OpenSSL digest copy failed");
}

Hasher& Hasher::operator=(const Hasher& other) {
    if (this != &other) *this = Hasher(other);
    return *this;
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, std::size_t n) {
    EVP_DigestUpdate(impl_->ctx, data, n);
}

std::string Hasher::hex_digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(impl_->ctx, md, &len);
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        out += digits[md[i] >> 4];
        out += digits[md[i] & 15];
    }
    return out;
}

Hasher hasher_for(Etag::Kind kind, std::uint64_t size) {
    if (kind == Etag::Kind::sha256) return Hasher(Hasher::Algo::sha256);
    Hasher h(Hasher::Algo::sha1);
    const std::string header = "blob " + std::to_string(size);
    h.update(header.c_str(), header.size() + 1); // includes the '\0'
    return h;
}

std::string to_hex(std::string_view bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    const auto val = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out(hex.size() / 2, '\0');
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int hi = val(hex[2 * i]), lo = val(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<char>(hi * 16 + lo);
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    Hasher h(Hasher::Algo::sha256);
    h.update(data);
    return h.hex_digest();
}

std::string git_blob_sha1_hex(std::string_view data) {
    Hasher h = hasher_for(Etag::Kind::git_sha1, data.size());
    h.update(data);
    return h.hex_digest();
}

Result<std::string> hash_file(const std::filesystem::path& path, Etag::Kind kind) {
    auto fd = open_fd(path, O_RDONLY);
    if (!fd) return fd.error();
    auto size = file_size(fd->get());
    if (!size) return size.error();
    Hasher h = hasher_for(kind, *size);
    std::uint64_t at = 0;
    if (auto st = hash_range(fd->get(), h, at, *size, path.string()); !st) return st.error();
    return h.hex_digest();
}

Status hash_range(int fd, Hasher& h, std::uint64_t& at, std::uint64_t end, const std::string& what,
                  const std::atomic<bool>* stop) {
    constexpr std::size_t kBuffer = 1 << 20;
    thread_local const auto buf = std::make_unique_for_overwrite<char[]>(kBuffer); // not zeroed: reads fill it
    while (at < end && !(stop && stop->load())) {
        const auto want = std::min<std::uint64_t>(kBuffer, end - at);
        const ssize_t n = ::pread(fd, buf.get(), want, static_cast<off_t>(at));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return errno_error(n < 0 ? errno : EIO, "read", what);
        }
        h.update(buf.get(), static_cast<std::size_t>(n));
        at += static_cast<std::uint64_t>(n);
    }
    return ok();
}

} // namespace llmpt::util
