// SHA-256 of many independent messages at once (BitTorrent v2's 16 KiB
// blocks). With Intel's multi-buffer crypto library (libipsec-mb) the
// messages are hashed side by side (SIMD lanes, or interleaved SHA-NI
// streams): about twice the speed of one message after another, which is
// all one SHA-256 stream can do. Without the library (or on a CPU it does
// not support) the messages are hashed one by one with OpenSSL.
#pragma once

#include <cstddef>
#include <span>

namespace llmpt::util {

struct Sha256Job {
    const void* data = nullptr;
    std::size_t len = 0;
    unsigned char* digest = nullptr; // 32 bytes
};

// Hashes every job's message into its digest. Thread-safe (state is per thread).
void sha256_each(std::span<const Sha256Job> jobs);

// "ipsec-mb (avx512)", "openssl": what sha256_each uses in this process.
const char* sha256_each_engine();

} // namespace llmpt::util
