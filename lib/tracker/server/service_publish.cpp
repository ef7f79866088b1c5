// POST /api/v1/publish: the token, the body (tracker/protocol.hpp checks
// every field against the torrent itself), the Hub's tree when a Hub is
// configured, then the database. Every attempt is audited and logged.
#include "tracker/server/service.hpp"

#include "hub/hub.hpp"
#include "util/hash.hpp"

#include <llmpt/repo.hpp>
#include <llmpt/settings.hpp>

#include <fmt/format.h>

#include <map>

namespace llmpt::tracker {

using server::Request;
using server::Response;

namespace {

// Constant-time comparison, so the token cannot be found byte by byte.
bool same_secret(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

Response json_answer(std::string body) {
    Response r;
    r.body = std::move(body);
    r.header("Content-Type", "application/json");
    return r;
}

} // namespace

struct Service::PublishAttempt {
    AuditRow audit;
    Service* service;

    // Audits and logs the answer that ends the attempt.
    Response done(Response r, const std::string& detail) {
        audit.status = r.status;
        audit.detail = detail;
        service->db_->audit(audit);
        service->log(fmt::format("publish remote={} repo={}:{}@{} status={}{}", audit.remote, audit.repo_type,
                                 audit.repo_id, audit.revision, r.status,
                                 detail.empty() ? "" : " detail=\"" + detail + "\""));
        return r;
    }
    Response fail(int status, const std::string& message) { return done(Response::json_error(status, message), message); }
};

std::optional<std::string> Service::token_problem(const Request& req, std::string& token_id) const {
    if (o_.publish_tokens.empty()) return std::nullopt;
    const auto auth = req.header("authorization");
    const std::string prefix = "Bearer ";
    if (auth.compare(0, prefix.size(), prefix) != 0) return "publish token required";
    const auto token = auth.substr(prefix.size());
    bool known = false;
    for (const auto& t : o_.publish_tokens) known |= same_secret(t, token);
    if (!known) return "publish token refused";
    token_id = util::sha256_hex(token).substr(0, 12);
    return std::nullopt;
}

std::optional<Response> Service::authorize(const Request& req, PublishAttempt& a) {
    if (auto why = token_problem(req, a.audit.token_id)) return a.fail(401, *why);
    return std::nullopt;
}

std::optional<Response> Service::check_against_hub(const protocol::Publish& p, PublishAttempt& a) {
    if (o_.hub_endpoint.empty()) return std::nullopt;
    Settings hs;
    hs.endpoint = o_.hub_endpoint;
    hs.max_retries = 1;
    hs.api_timeout = std::chrono::seconds(10);
    hs.connect_timeout = std::chrono::milliseconds(2000);
    hub::HubClient hub(hs);
    const RepoRef ref{*parse_repo_type(p.repo_type), *RepoId::parse(p.repo_id)};
    auto listed = hub.list_files(ref, *CommitId::parse(p.revision));
    if (!listed) {
        if (listed.error().code == errc::network) {
            auto r = Response::json_error(503, "cannot check the torrent against the Hub: " + listed.error().message);
            r.header("Retry-After", "30");
            return a.done(std::move(r), "hub unreachable");
        }
        return a.fail(422, "the Hub does not confirm this revision: " + listed.error().message);
    }
    if (auto why = torrent::differs_from_hub(p.facts->files, *listed)) return a.fail(422, "files: " + *why);
    return std::nullopt;
}

Response Service::store(const protocol::Publish& p, PublishAttempt& a) {
    const auto& facts = *p.facts;
    const auto reply = [&](PublishOutcome status, const std::string& message) {
        return a.done(json_answer(protocol::publish_result_body({status, facts.info_hash, message})),
                      std::string(to_string(status)));
    };
    TorrentRow row;
    row.repo_type = p.repo_type;
    row.repo_id = p.repo_id;
    row.revision = p.revision;
    row.name = facts.name;
    row.info_hash = facts.info_hash.v2();
    row.info_hash_v1 = facts.info_hash.v1();
    row.announce_key = facts.info_hash.announce_key();
    row.total_size = facts.total_size;
    row.file_count = facts.files.size();
    row.piece_length = facts.piece_length;
    for (const auto& f : facts.files) row.files.push_back({f.path, f.size});

    // Two publishes of one revision may race: the database decides, and the
    // loser looks again.
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (auto existing = db_->find(p.repo_type, p.repo_id, p.revision, false)) {
            if (existing->info_hash == facts.info_hash.v2()) return reply(PublishOutcome::exists, "already published");
            // A torrent an older llmpt made (its files carry attributes) is
            // not the revision's torrent any more: the new one takes its place.
            const auto old = db_->torrent_data(p.repo_type, p.repo_id, p.revision);
            const auto old_facts = old ? torrent::inspect(*old) : Result<torrent::TorrentFacts>(Error());
            if (old_facts && old_facts->attributed.empty())
                return a.fail(409, "a different torrent is published for this revision");
            auto id = db_->replace(existing->id, row, p.torrent);
            if (!id) return a.fail(500, id.error().message);
            unindex_torrent(*existing);
            row.id = *id;
            index_torrent(row);
            return reply(PublishOutcome::created, "published (it replaces a torrent made by an older llmpt, whose files had attributes)");
        }
        auto id = db_->insert(row, p.torrent);
        if (!id) return a.fail(500, id.error().message);
        if (*id) {
            row.id = **id;
            index_torrent(row);
            return reply(PublishOutcome::created, "published");
        }
    }
    return a.fail(409, "this torrent or revision is already published differently");
}

Response Service::publish(const Request& req) {
    const auto remote = client_address(req, "");
    if (auto refused = over_limit(publish_limit_, remote)) return std::move(*refused);
    PublishAttempt a{AuditRow{remote, "", "", "", "", "", 0, ""}, this};
    if (auto denied = authorize(req, a)) return std::move(*denied);
    const auto p = protocol::parse_publish(req.body);
    a.audit.repo_type = p.repo_type;
    a.audit.repo_id = p.repo_id;
    a.audit.revision = p.revision;
    if (p.facts) a.audit.info_hash = p.facts->info_hash.v2();
    if (p.error) return a.fail(400, *p.error);
    if (auto refused = check_against_hub(p, a)) return std::move(*refused);
    return store(p, a);
}

// A cohort's torrent goes through the same checks and the same audit as a
// torrent someone publishes: it is the torrent its parts make, nothing more.
void Service::publish_assembled(const Request& req, const std::string& cohort_id, CohortStore::Reported& r) {
    const auto now = [] { return Clock::now(); };
    PublishAttempt a{AuditRow{client_address(req, ""), "cohort", r.repo_type, r.repo_id, r.revision, "", 0, ""}, this};
    torrent::AssembleOptions ao;
    ao.tracker = r.tracker;
    auto data = torrent::assemble(r.revision, *r.parts, ao);
    if (!data) {
        a.fail(400, "cohort parts: " + data.error().message);
        cohorts_.failed(cohort_id, "the reported parts do not make a torrent: " + data.error().message, now());
        return;
    }
    protocol::Publish p;
    p.repo_id = r.repo_id;
    p.repo_type = r.repo_type;
    p.revision = r.revision;
    p.torrent = std::move(*data);
    auto facts = torrent::inspect(p.torrent);
    if (facts) {
        p.facts = *facts;
        if (auto st = torrent::check_snapshot_torrent(*p.facts, r.revision); !st) facts = st.error();
    }
    if (!facts) {
        a.fail(400, "cohort torrent: " + facts.error().message);
        cohorts_.failed(cohort_id, "the assembled torrent breaks the snapshot rules: " + facts.error().message, now());
        return;
    }
    a.audit.info_hash = p.facts->info_hash.v2();
    auto answer = check_against_hub(p, a);
    if (!answer) answer = store(p, a);
    if (answer->status == 200) cohorts_.published(cohort_id, p.facts->info_hash.v2(), now());
    else cohorts_.failed(cohort_id, "publishing the assembled torrent: " + protocol::error_text(answer->status, answer->body), now());
}

} // namespace llmpt::tracker
