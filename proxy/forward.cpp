// A request's way through: parse, route, the cache, then either the chain of
// hops (fallbacks, retries, breakers, wait-or-go-remote), a batched embeddings
// call, or a coalesced flight shared with identical requests in flight.
#include "proxy/coalesce.hpp"
#include "proxy/relay.hpp"
#include "proxy/route_plan.hpp"

#include <random>

namespace swapgate::proxy {

namespace asio = net::asio;

namespace {

// Go to a remote hop instead of waiting for this model to load? Only when a
// later hop is on a backend swapgate does not manage, the expected local wait
// is above the model's max_local_wait, and above what the remote hop has
// recently taken to its first byte (when it has answered before): going
// remote must be faster, not just within the user's patience.
bool prefer_remote(proxy_state& st, const std::vector<const config::model*>& chain, size_t i, std::string& why) {
    const auto& m = *chain[i];
    if (!st.swap || !st.swap->managed(&m)) return false;
    auto snap = st.swap->residency(&m);
    if (snap.ready) return false;
    const config::model* remote = nullptr;
    for (size_t j = i + 1; j < chain.size() && !remote; ++j)
        if (!st.swap->managed(chain[j])) remote = chain[j];
    if (!remote) return false;
    const auto& rs = st.cfg->routing;
    auto limit = rs.fallback.default_max_local_wait;
    if (auto it = rs.models.find(m.name); it != rs.models.end() && it->second.max_local_wait) limit = *it->second.max_local_wait;
    if (snap.expected_wait <= limit) return false;
    auto remote_ms = st.breakers->expected_first_byte_ms(remote->backend);
    if (remote_ms && static_cast<double>(snap.expected_wait.count()) <= *remote_ms) return false;
    char buf[128];
    if (remote_ms)
        std::snprintf(buf, sizeof buf, "remote-instead-of-wait=%.1fs>%.1fs,remote~%.1fs", snap.expected_wait.count() / 1000.0,
                      limit.count() / 1000.0, *remote_ms / 1000.0);
    else
        std::snprintf(buf, sizeof buf, "remote-instead-of-wait=%.1fs>%.1fs", snap.expected_wait.count() / 1000.0,
                      limit.count() / 1000.0);
    why = buf;
    return true;
}

// The chain: each hop in turn from `first_hop` until one answers (relay.hpp).
// `notes` says what happened to the hops before it.
net::awaitable<void> run_chain(proxy_state& st, client_conn& conn, incoming_request& req, endpoint ep,
                               request_record& rec, const route_plan& plan, cache_context& cc,
                               header_list& route_headers, const std::string& client_model, clock::time_point t0,
                               size_t first_hop = 0, std::string notes = {}) {
    const auto& fb = st.cfg->routing.fallback;
    const auto deadline = t0 + fb.deadline;
    hop_ctx h{st, conn, req, ep, rec, cc, route_headers, client_model, t0, {}, {}};
    thread_local std::mt19937_64 rng{std::random_device{}()};
    net::steady_timer pause(co_await asio::this_coro::executor);
    const auto& chain = plan.chain;
    // `notes`: skipped and failed hops, for X-Swapgate-Route.
    for (size_t i = first_hop; i < chain.size(); ++i) {
        const config::model& m = *chain[i];
        const bool last = i + 1 == chain.size();
        auto set_route_header = [&] {
            route_headers.front().second = plan.header + notes + (i > 0 ? "; served_by=" + m.name : "");
        };
        if (!last) {
            std::string why;
            if (prefer_remote(st, chain, i, why)) {
                st.stats.remote_instead_of_wait.add({m.name});
                st.stats.fallbacks.add({m.name, "remote_instead_of_wait"});
                notes += "; skipped=" + m.name + ":" + why;
                continue;
            }
            if (!st.breakers->allow(m.backend)) {
                st.stats.fallbacks.add({m.name, "breaker_open"});
                notes += "; skipped=" + m.name + ":breaker_open";
                continue;
            }
        }
        h.hop_body = body_for_hop(st, req, plan, i);
        const int attempts = last ? 1 + fb.retries : 1;
        for (int a = 0; a < attempts; ++a) {
            if (a > 0) {
                auto delay = routing::backoff_delay(a - 1, fb.retry_backoff, fb.retry_backoff_max,
                                                    std::uniform_real_distribution<double>(0, 1)(rng));
                if (clock::now() + delay >= deadline) break;
                pause.expires_after(delay);
                co_await pause.async_wait();
            }
            // Another attempt (this hop again, or the next) may follow.
            bool can_fallback = (!last || a + 1 < attempts) && clock::now() < deadline;
            set_route_header();
            auto r = co_await run_hop(h, m, can_fallback, !last);
            if (r == hop_result::answered) {
                if (st.cache) cache_finish(st, cc, m, rec);
                co_return;
            }
            if (r == hop_result::client_gone) co_return;
            st.stats.fallbacks.add({m.name, h.trigger});
            notes += "; failed=" + m.name + ":" + h.trigger;
            if (h.trigger == "queue_full" || h.trigger == "model_unavailable") break;  // no retry of the same model
        }
        if (clock::now() >= deadline) break;
    }
    // Every hop failed before answering (the last one's failures were allowed
    // to fall through only while the deadline left time for another attempt).
    if (rec.status == 0) {
        route_headers.front().second = plan.header + notes;
        api_error e{502, "Every model on the route failed: " + route_headers.front().second, "upstream_error", "",
                    "all_hops_failed"};
        rec.status = e.status;
        rec.error = e.code;
        co_await conn.send(e.status, "application/json", error_body(e), route_headers);
    }
}

// A coalesced request's chain, run once for every caller of the flight.
struct flight_job {
    proxy_state& st;
    std::shared_ptr<flight> f;
    incoming_request req;
    endpoint ep;
    route_plan plan;
    cache_context cc;
    header_list route_headers;
    std::string client_model;
    clock::time_point t0;
    request_record rec;
    flight_job(proxy_state& s, std::shared_ptr<flight> fl, const incoming_request& r, endpoint e, const route_plan& p,
               cache_context c, const header_list& rh, const std::string& cm, clock::time_point t, const request_record& rc)
        : st(s), f(std::move(fl)), req(r), ep(e), plan(p), cc(std::move(c)), route_headers(rh), client_model(cm), t0(t),
          rec(rc) {}
    flight_job(const flight_job&) = delete;
    flight_job& operator=(const flight_job&) = delete;
    ~flight_job() { f->finish(rec); }  // however the chain ended, the callers are released
};

net::awaitable<void> drive_flight(std::shared_ptr<flight_job> job) {
    client_conn conn(*job->f);
    conn.request_id = job->req.request_id;
    job->cc.extra = &job->route_headers;
    co_await run_chain(job->st, conn, job->req, job->ep, job->rec, job->plan, job->cc, job->route_headers,
                       job->client_model, job->t0);
    job->f->finish(job->rec);
}

}  // namespace

net::awaitable<void> forward(proxy_state& st, client_conn& conn, incoming_request& req, endpoint ep,
                             request_record& rec) {
    auto t0 = clock::now();
    request_info info;
    if (auto e = parse_request(ep, req.body, info)) {
        rec.status = e->status;
        rec.error = e->code;
        co_await conn.send_error(*e);
        co_return;
    }
    rec.model = info.model;
    rec.stream = info.stream;
    rec.model_label = "unknown";
    route_plan plan;
    if (auto e = plan_route(st, req, ep, info, plan)) {
        rec.status = e->status;
        rec.error = e->code;
        header_list hl;
        hl.emplace_back("X-Swapgate-Route", plan.header.empty() ? "model=; rule=unknown" : plan.header);
        co_await conn.send(e->status, "application/json", error_body(*e), hl);
        co_return;
    }
    st.stats.route_decisions.add({plan.rule});
    const config::model& first = *plan.chain.front();
    rec.backend = first.backend;
    rec.model_label = first.name;
    rec.upstream_model = first.upstream_model;
    header_list route_headers{{"X-Swapgate-Route", plan.header}};

    // The cache first: a hit needs no backend, not even a resident model.
    cache_context cc;
    cc.extra = &route_headers;
    if (st.cache) {
        bool answered = co_await cache_prepare(st, conn, req, ep, first, rec, cc, std::move(plan.body));
        if (answered) co_return;
    }

    // Embeddings of a model with `batch`: merged with concurrent requests.
    if (ep == endpoint::embeddings && st.batching && st.batching->enabled_for(first)) {
        std::string body = cc.upstream_body ? *cc.upstream_body : req.body;
        auto a = co_await st.batching->submit(first, std::move(body));
        if (a.status == 0) {
            // The merged call was refused: on its own, so one bad input fails only its request.
            std::string notes = "; batch=alone";  // (GCC 12: no literal for a coroutine's string parameter)
            co_await run_chain(st, conn, req, ep, rec, plan, cc, route_headers, info.model, t0, 0, std::move(notes));
            co_return;
        }
        if ((a.status >= 500 || a.status == 429) && plan.chain.size() > 1) {
            // The batched call failed: this request goes down the chain on its own.
            std::string trigger = a.status == 429 ? "status_429" : "status_5xx";
            st.stats.fallbacks.add({first.name, trigger});
            std::string notes = "; failed=" + first.name + ":" + trigger;
            co_await run_chain(st, conn, req, ep, rec, plan, cc, route_headers, info.model, t0, 1, std::move(notes));
            co_return;
        }
        header_list hl = route_headers;
        if (!cc.header.empty()) hl.emplace_back("X-Swapgate-Cache", cc.header);
        std::string out = a.body, why;
        if (a.status == 200 && cc.embed && !merge_embeddings_answer(st, cc, a.body, out, why)) {
            auto e = upstream_bad_response(first.backend, why);
            a.status = e.status;
            out = error_body(e);
        }
        rec.status = a.status;
        co_await conn.send(a.status, "application/json", out, hl);
        co_return;
    }

    // Identical cache-eligible requests in flight share one upstream call.
    if (st.coalesce && ep != endpoint::embeddings && !cc.key.empty() && cc.decision.lookup) {
        std::string fkey = cc.key + (cc.client_stream ? (cc.include_usage ? "/stream+usage" : "/stream") : "/whole");
        bool joined = false;
        int listener = 0;
        auto f = st.coalesce->join(fkey, joined, listener);
        if (joined) {
            st.stats.coalesced.add({first.name});
        } else {
            auto job = std::make_shared<flight_job>(st, f, req, ep, plan, std::move(cc), route_headers, info.model, t0,
                                                    rec);
            asio::co_spawn(f->driver(), drive_flight(job), asio::detached);
        }
        co_await follow_flight(conn, f, listener, joined, rec);
        co_return;
    }
    co_await run_chain(st, conn, req, ep, rec, plan, cc, route_headers, info.model, t0);
}

}  // namespace swapgate::proxy
