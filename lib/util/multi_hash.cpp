#include "util/multi_hash.hpp"

#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>

#ifdef LLMPT_HAVE_IPSEC_MB
#include <intel-ipsec-mb.h>
#endif

namespace llmpt::util {

namespace {

void openssl_each(std::span<const Sha256Job> jobs) {
    for (const auto& j : jobs) {
        unsigned int len = 0;
        if (EVP_Digest(j.data, j.len, j.digest, &len, EVP_sha256(), nullptr) != 1)
            throw std::runtime_error("OpenSSL SHA-256 failed");
    }
}

#ifdef LLMPT_HAVE_IPSEC_MB
struct MbManager {
    IMB_MGR* mgr = nullptr;
    IMB_ARCH arch = IMB_ARCH_NONE;
    MbManager() {
        mgr = alloc_mb_mgr(0);
        if (!mgr) return;
        init_mb_mgr_auto(mgr, &arch);
        if (imb_get_errno(mgr) != 0) arch = IMB_ARCH_NONE;
    }
    ~MbManager() {
        if (mgr) free_mb_mgr(mgr);
    }
    bool usable() const { return mgr && arch != IMB_ARCH_NONE; }
};

MbManager& manager() {
    thread_local MbManager m; // a manager is not thread-safe: one per thread
    return m;
}

// Fails (returns false) only if the library reports a job it did not
// complete; the caller then hashes everything again with OpenSSL.
bool mb_each(IMB_MGR* mgr, std::span<const Sha256Job> jobs) {
    bool ok = true;
    const auto check = [&](IMB_JOB* done) {
        for (; done; done = IMB_GET_COMPLETED_JOB(mgr))
            if (done->status != IMB_STATUS_COMPLETED) ok = false;
    };
    for (const auto& j : jobs) {
        IMB_JOB* job = IMB_GET_NEXT_JOB(mgr);
        std::memset(job, 0, sizeof(*job)); // no cipher, no keys, no IV
        job->cipher_mode = IMB_CIPHER_NULL;
        job->chain_order = IMB_ORDER_HASH_CIPHER;
        job->cipher_direction = IMB_DIR_ENCRYPT;
        job->hash_alg = IMB_AUTH_SHA_256;
        job->src = static_cast<const std::uint8_t*>(j.data);
        job->msg_len_to_hash_in_bytes = j.len;
        job->auth_tag_output = j.digest;
        job->auth_tag_output_len_in_bytes = 32;
        check(IMB_SUBMIT_JOB(mgr));
    }
    while (IMB_JOB* done = IMB_FLUSH_JOB(mgr)) check(done);
    return ok;
}
#endif

} // namespace

void sha256_each(std::span<const Sha256Job> jobs) {
#ifdef LLMPT_HAVE_IPSEC_MB
    // One message gains nothing from lanes.
    if (jobs.size() > 1) {
        auto& m = manager();
        if (m.usable() && mb_each(m.mgr, jobs)) return;
    }
#endif
    openssl_each(jobs);
}

const char* sha256_each_engine() {
#ifdef LLMPT_HAVE_IPSEC_MB
    auto& m = manager();
    if (m.usable()) {
        switch (m.arch) {
        case IMB_ARCH_NOAESNI: return "ipsec-mb (no-aesni)";
        case IMB_ARCH_SSE: return "ipsec-mb (sse)";
        case IMB_ARCH_AVX: return "ipsec-mb (avx)";
        case IMB_ARCH_AVX2: return "ipsec-mb (avx2)";
        case IMB_ARCH_AVX512: return "ipsec-mb (avx512)";
        default: return "ipsec-mb";
        }
    }
#endif
    return "openssl";
}

} // namespace llmpt::util
