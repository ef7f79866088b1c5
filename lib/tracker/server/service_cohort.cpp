// POST /api/v1/cohort/{join,lease,report}: the cold start's work sharing
// (tracker/cohort_protocol.hpp, the state in tracker/server/cohort.hpp).
// The same publish token as a publish, its own per-address rate limit.
#include "tracker/server/service.hpp"

#include <fmt/format.h>

#include <variant>

namespace llmpt::tracker {

using server::Request;
using server::Response;

namespace {

Response answer(const cohort::Answer& a) {
    Response r;
    r.body = cohort::answer_body(a);
    r.header("Content-Type", "application/json");
    return r;
}

} // namespace

Response Service::cohort(const Request& req) {
    const auto remote = client_address(req, "");
    if (auto refused = over_limit(cohort_limit_, remote)) return std::move(*refused);
    std::string token_id;
    if (auto why = token_problem(req, token_id)) return Response::json_error(401, *why);
    const auto now = Clock::now();
    const auto& path = req.path;

    if (path == "/api/v1/cohort/join") {
        auto p = cohort::parse_join(req.body);
        if (p.error) return Response::json_error(400, *p.error);
        // Published already: the swarm, not a cohort.
        if (auto row = db_->find(p.value.repo_type, p.value.repo_id, p.value.revision, false)) {
            cohort::Answer a;
            a.state = cohort::State::published;
            a.info_hash = row->info_hash;
            return answer(a);
        }
        auto joined = cohorts_.join(p.value, now);
        if (auto* no = std::get_if<Refusal>(&joined)) return Response::json_error(no->status, no->message);
        const auto& a = std::get<cohort::Answer>(joined);
        log(fmt::format("cohort join remote={} repo={}:{}@{} members={}", remote, p.value.repo_type, p.value.repo_id,
                        p.value.revision, a.members));
        return answer(a);
    }
    if (path == "/api/v1/cohort/lease") {
        auto p = cohort::parse_lease(req.body);
        if (p.error) return Response::json_error(400, *p.error);
        auto leased = cohorts_.lease(p.value, now);
        if (auto* no = std::get_if<Refusal>(&leased)) return Response::json_error(no->status, no->message);
        return answer(std::get<cohort::Answer>(leased));
    }
    if (path == "/api/v1/cohort/report") {
        auto p = cohort::parse_report(req.body);
        if (p.error) return Response::json_error(400, *p.error);
        auto reported = cohorts_.report(p.value, now);
        if (auto* no = std::get_if<Refusal>(&reported)) return Response::json_error(no->status, no->message);
        auto& r = std::get<CohortStore::Reported>(reported);
        if (r.parts) {
            publish_assembled(req, p.value.cohort, r);
            // The answer after publishing: published, or failed and why.
            auto after = cohorts_.lease({p.value.cohort, p.value.member, false}, Clock::now());
            if (auto* a = std::get_if<cohort::Answer>(&after)) return answer(*a);
        }
        return answer(r.answer);
    }
    return Response::json_error(404, "not found");
}

} // namespace llmpt::tracker
