#include "util/multi_hash.hpp"

#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

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

// A manager is not thread-safe, and each costs about 200 KB zeroed and 3 ms
// to set up (a fault per fresh page): a pool lends one per call, so only as
// many exist as threads hash at the same moment, not one per thread that
// ever hashed (the disk pool's four, at a download's start).
class MbPool {
public:
    class Lease {
    public:
        Lease(MbPool& pool, std::unique_ptr<MbManager> m) : pool_(pool), m_(std::move(m)) {}
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() { pool_.give_back(std::move(m_)); }
        MbManager& operator*() const { return *m_; }
        MbManager* operator->() const { return m_.get(); }

    private:
        MbPool& pool_;
        std::unique_ptr<MbManager> m_;
    };

    Lease lend() {
        {
            std::lock_guard lk(mu_);
            if (!idle_.empty()) {
                auto m = std::move(idle_.back());
                idle_.pop_back();
                return {*this, std::move(m)};
            }
        }
        return {*this, std::make_unique<MbManager>()};
    }

private:
    void give_back(std::unique_ptr<MbManager> m) {
        std::lock_guard lk(mu_);
        idle_.push_back(std::move(m));
    }
    std::mutex mu_;
    std::vector<std::unique_ptr<MbManager>> idle_;
};

MbPool& pool() {
    static MbPool* const p = new MbPool; // never destroyed: a thread still hashing at exit finds it whole
    return *p;
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
        const auto m = pool().lend();
        if (m->usable() && mb_each(m->mgr, jobs)) return;
    }
#endif
    openssl_each(jobs);
}

const char* sha256_each_engine() {
#ifdef LLMPT_HAVE_IPSEC_MB
    const auto m = pool().lend();
    if (m->usable()) {
        switch (m->arch) {
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
