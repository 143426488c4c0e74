// One hop: forwarding a completion/embedding request to its backend and
// relaying the response: whole bodies for plain responses, event by event for
// SSE streams (see relay.hpp).
#include "proxy/relay.hpp"

#include "proxy/json_scan.hpp"
#include "proxy/sse.hpp"

#include <nlohmann/json.hpp>

namespace swapgate::proxy {

namespace asio = net::asio;
using net::error_code;

namespace {

double ms_since(clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock::now() - t0).count();
}

// The error a client gets when the exchange failed before any response byte.
api_error exchange_error(const upstream_call& call, const std::string& backend, bool draining) {
    switch (call.why()) {
        case failure::timeout: return upstream_timeout(backend, call.reason());
        case failure::protocol:
        case failure::too_large: return upstream_bad_response(backend, call.reason());
        case failure::closed:
            return {502, "Backend '" + backend + "' closed the connection: " + call.reason(), "upstream_error", "",
                    "upstream_disconnected"};
        case failure::aborted:
            if (draining) return shutting_down();
            return upstream_unreachable(backend, call.reason());
        default: return upstream_unreachable(backend, call.reason());
    }
}

// The event that ends a stream the backend broke off, so SDKs raise instead of
// treating a truncated answer as complete.
std::string stream_error_event(const upstream_call& call, const std::string& backend) {
    api_error e = call.why() == failure::timeout
                      ? upstream_timeout(backend, call.reason() + " in the middle of a stream")
                      : api_error{502, "Backend '" + backend + "' ended the stream before it was complete: " + call.reason(),
                                  "upstream_error", "", "upstream_disconnected"};
    return "data: " + error_body(e) + "\n\n";
}

// The complete events' bytes as received, except that an old llama-server's
// non-standard "error: {...}" event becomes "data: {...}" so SDKs see the error.
// With `strip_usage`, a usage-only chunk swapgate asked for (to store the
// answer) is left out: the client did not ask for it.
std::string_view relayable(const sse_parser& parser, std::string& scratch, bool strip_usage) {
    bool translate = false;
    for (const auto& ev : parser.events()) {
        translate |= !ev.error.empty() && !ev.has_data;
        translate |= strip_usage && ev.has_data && ev.data.find("\"usage\"") != std::string::npos;
    }
    if (!translate) return parser.complete_bytes();
    scratch.clear();
    std::string_view raw = parser.complete_bytes();
    size_t at = 0;
    for (const auto& ev : parser.events()) {
        scratch.append(raw.substr(at, ev.begin - at));
        if (strip_usage && ev.has_data && usage_only_chunk(ev.data)) {
            // dropped
        } else if (strip_usage && ev.has_data && ev.data.find("\"usage\"") != std::string::npos) {
            scratch += "data: " + without_null_usage(ev.data) + "\n\n";
        } else if (!ev.error.empty() && !ev.has_data) {
            auto j = nlohmann::json::parse(ev.error, nullptr, false);
            if (j.is_object() && !j.contains("error")) j = nlohmann::json{{"error", j}};
            scratch += "data: ";
            scratch += j.is_object() ? j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                                     : error_body(api_error{502, ev.error, "upstream_error", "", ""});
            scratch += "\n\n";
        } else {
            scratch.append(raw.substr(ev.begin, ev.end - ev.begin));
        }
        at = ev.end;
    }
    scratch.append(raw.substr(at));
    return scratch;
}

struct exchange_ctx {
    proxy_state& st;
    client_conn& conn;
    upstream_call& call;
    exchange_watch& watch;
    request_record& rec;
    std::string request;
    clock::time_point t0;
    swap_ticket* ticket = nullptr;  // managed models: the scheduler's slot
    cache_context* cc = nullptr;     // the response cache's part (recording, header)
    const header_list* extra = nullptr;  // more headers for the client (X-Swapgate-Route)
    // Another hop may follow: a failure before anything reached the client is
    // reported in `failed`/`trigger` instead of being answered.
    bool can_fallback = false;
    bool failed = false;
    std::string trigger;  // connect, timeout, closed, status_5xx, status_429, protocol, ...
    bool client_gone() const { return watch.client_gone(); }
    void fail_before_commit(std::string why) {
        failed = true;
        trigger = std::move(why);
    }
    // The scheduler stopped the model under this request (crash, drain timeout).
    bool model_stopped() const { return ticket && ticket->failed; }
    api_error stopped_error() const {
        return {503, "Model '" + rec.model_label + "' stopped while serving this request: " + ticket->fail_reason,
                "server_error", "", "model_stopped"};
    }
};

// The scheduler refused the request (queue full, queue timeout, failed load).
api_error rejection_error(const std::string& model, const swap_ticket& t) {
    if (t.status == 429)
        return {429, "Model '" + model + "' has too many requests waiting (" + t.reason + ")", "rate_limit_error", "",
                "model_queue_full"};
    if (t.status == 400) return {400, t.reason, "invalid_request_error", "model", "model_not_available"};
    return {t.status, "Model '" + model + "' is not available: " + t.reason, "server_error", "", "model_unavailable"};
}

const char* trigger_of(failure f) {
    switch (f) {
        case failure::timeout: return "timeout";
        case failure::connect:
        case failure::resolve: return "connect";
        case failure::tls: return "tls";
        case failure::closed: return "closed";
        case failure::protocol:
        case failure::too_large: return "bad_response";
        default: return "error";
    }
}

// Headers for the client: the backend's pass-through ones plus ours.
header_list client_headers(const exchange_ctx& x) {
    header_list h = x.call.head().pass_headers;
    if (x.cc && !x.cc->header.empty()) h.emplace_back("X-Swapgate-Cache", x.cc->header);
    if (x.extra) h.insert(h.end(), x.extra->begin(), x.extra->end());
    return h;
}

// Whether a streamed event commits the response: anything but a role-only
// preamble chunk (which is held back, with nothing delayed: it goes out
// together with the first content, tool-call or reasoning delta).
bool commits(const sse_parser& parser) {
    // json_scan, not a DOM: this runs on the first events of every stream that
    // may still fall over (a DOM parse cost ~5% of a streamed request's CPU).
    namespace js = json_scan;
    std::string invalid;
    for (const auto& ev : parser.events()) {
        if (!ev.has_data) {
            if (!ev.error.empty()) return true;
            continue;
        }
        if (!js::validate(ev.data, invalid)) return true;
        auto j = js::root(ev.data);
        if (j.type() != js::kind::object || j.member("error")) return true;
        auto choices = j.member("choices");
        if (!choices || choices->type() != js::kind::array) return true;
        auto cur = choices->elements();
        for (auto c = cur.next(); c; c = cur.next()) {
            if (c->type() != js::kind::object) return true;
            if (auto f = c->member("finish_reason"); f && f->type() != js::kind::null) return true;
            if (auto t = c->member("text"); t && t->type() == js::kind::string && t->text.size() > 2) return true;
            auto delta = c->member("delta");
            if (!delta || delta->type() != js::kind::object) continue;
            auto members = delta->members();
            for (auto m = members.next(); m; m = members.next()) {
                if (m->first == "role") continue;
                const auto& v = m->second;
                if (v.type() == js::kind::null || (v.type() == js::kind::string && v.text.size() == 2)) continue;
                return true;
            }
        }
    }
    return false;
}

// Reads the next body bytes into the parser (closing it after the last).
net::awaitable<error_code> read_events(exchange_ctx& x, sse_parser& parser, std::string& piece) {
    piece.clear();
    error_code ec = co_await x.call.read_some(piece);
    if (!piece.empty()) {
        if (x.rec.ttfb_ms < 0) x.rec.ttfb_ms = ms_since(x.t0);
        parser.feed(piece);
    }
    if (!ec && x.call.done()) parser.finish();
    co_return ec;
}

net::awaitable<void> relay_stream(exchange_ctx& x) {
    const auto& backend = x.rec.backend;
    const auto& head = x.call.head();
    sse_parser parser;
    std::string piece, translated;
    error_code ec;
    bool have_read = false;  // the parser holds bytes the held-back phase read
    if (x.can_fallback) {
        // Nothing reaches the client before the first committing event, so a
        // failure until then can still go to the next hop.
        for (;;) {
            ec = co_await read_events(x, parser, piece);
            if (commits(parser) || (!ec && x.call.done()) || parser.incomplete_bytes().size() > x.call.max_event_bytes())
                break;
            if (ec) {
                if (x.client_gone()) {
                    x.rec.status = 499;
                    x.rec.error = "client_gone";
                    co_return;
                }
                x.call.abort();
                x.fail_before_commit(std::string("stream_") + trigger_of(x.call.why()));
                co_return;
            }
        }
        have_read = true;
    }
    header_list extra = client_headers(x);
    extra.emplace_back("Cache-Control", "no-cache");
    extra.emplace_back("X-Accel-Buffering", "no");
    if (auto sec = co_await x.conn.start_stream(head.status, head.content_type, extra)) {
        x.call.abort();
        x.rec.error = "client_gone";
        x.st.stats.stream_ends.add({"client_gone"});
        co_return;
    }
    x.rec.status = head.status;
    cache::completion_recorder* recorder = x.cc && x.cc->recorder && head.status == 200 ? x.cc->recorder.get() : nullptr;
    const bool strip_usage = x.cc && x.cc->inject_usage;
    bool ended = false;  // the end of the body went out with the last chunk
    for (;;) {
        if (!have_read) ec = co_await read_events(x, parser, piece);
        have_read = false;
        if (parser.incomplete_bytes().size() > x.call.max_event_bytes()) {
            // An "event" that never ends: stop buffering it.
            x.call.abort();
            x.rec.error = "upstream_bad_response";
            x.st.stats.stream_ends.add({"upstream_bad_response"});
            api_error e = upstream_bad_response(backend, "a streamed event exceeded max_response_size");
            co_await x.conn.send_chunk("data: " + error_body(e) + "\n\n", true);
            co_return;
        }
        if (!parser.complete_bytes().empty()) {
            for (const auto& ev : parser.events()) {
                if (ev.has_data && ev.data.find("\"usage\"") != std::string::npos) {
                    auto u = extract_usage(ev.data);
                    if (u.prompt >= 0) x.rec.prompt_tokens = u.prompt;
                    if (u.completion >= 0) x.rec.completion_tokens = u.completion;
                }
                if (recorder) {
                    if (ev.has_data) recorder->feed_event(ev.data);
                    else if (!ev.error.empty()) recorder->fail("error event");
                }
            }
            bool last = !ec && x.call.done();
            error_code wec = co_await x.conn.send_chunk(relayable(parser, translated, strip_usage), last);
            ended = last;
            parser.consume();
            if (wec) {
                x.call.abort();
                x.rec.error = "client_gone";
                x.st.stats.stream_ends.add({"client_gone"});
                co_return;
            }
        }
        if (ec) {
            if (x.client_gone()) {
                x.rec.error = "client_gone";
                x.st.stats.stream_ends.add({"client_gone"});
                co_return;
            }
            // Partial event bytes are dropped: the client sees whole events, then the error.
            bool timeout = x.call.why() == failure::timeout;
            x.rec.error = x.model_stopped() ? "model_stopped" : timeout ? "upstream_timeout" : "upstream_disconnected";
            x.st.stats.stream_ends.add({x.rec.error});
            std::string event = x.model_stopped() ? "data: " + error_body(x.stopped_error()) + "\n\n"
                                                  : stream_error_event(x.call, backend);
            co_await x.conn.send_chunk(event, true);
            co_return;
        }
        if (x.call.done()) {
            x.call.release();
            x.st.stats.stream_ends.add({"done"});
            if (!ended) co_await x.conn.end_stream();
            co_return;
        }
    }
}

// The exchange failed before any response byte reached the client: answer with
// the error that says why (nothing, if the client itself is gone).
net::awaitable<void> report_failure(exchange_ctx& x) {
    if (x.client_gone()) {
        x.rec.status = 499;
        x.rec.error = "client_gone";
        co_return;
    }
    auto e = x.model_stopped() ? x.stopped_error() : exchange_error(x.call, x.rec.backend, x.st.draining.load());
    x.rec.status = e.status;
    x.rec.error = e.code;
    co_await x.conn.send_error(e);
}

net::awaitable<void> run_exchange(exchange_ctx& x) {
    if (auto ec = co_await x.call.start(std::move(x.request))) {
        if (x.can_fallback && !x.client_gone() && !x.model_stopped() && !x.st.draining.load()) {
            x.fail_before_commit(trigger_of(x.call.why()));
            co_return;
        }
        co_await report_failure(x);
        co_return;
    }
    int status = x.call.head().status;
    if (x.can_fallback && (status >= 500 || status == 429)) {
        // The next hop answers instead; this backend's error is only logged.
        std::string ignored;
        if (auto rec = co_await x.call.read_all(ignored)) x.call.abort();
        else x.call.release();
        x.fail_before_commit(status == 429 ? "status_429" : "status_5xx");
        co_return;
    }
    if (x.call.head().event_stream) {
        co_await relay_stream(x);
        co_return;
    }
    std::string body;
    if (auto ec = co_await x.call.read_all(body)) {
        if (x.can_fallback && !x.client_gone() && !x.model_stopped()) {
            x.fail_before_commit(trigger_of(x.call.why()));
            co_return;
        }
        co_await report_failure(x);
        co_return;
    }
    x.rec.ttfb_ms = ms_since(x.t0);
    x.call.release();
    const auto& head = x.call.head();
    x.rec.status = head.status;
    if (head.status / 100 == 2) {
        auto u = extract_usage(body);
        x.rec.prompt_tokens = u.prompt;
        x.rec.completion_tokens = u.completion;
    }
    if ((!x.cc || x.cc->header.empty()) && !x.extra) {
        co_await x.conn.send(head.status, head.content_type, body, head.pass_headers);
        co_return;
    }
    header_list extra = client_headers(x);
    if (x.cc && x.cc->embed && head.status == 200) {
        std::string merged, why;
        if (!merge_embeddings_answer(x.st, *x.cc, body, merged, why)) {
            auto e = upstream_bad_response(x.rec.backend, why);
            x.rec.status = e.status;
            x.rec.error = e.code;
            co_await x.conn.send(e.status, "application/json", error_body(e), extra);
            co_return;
        }
        body = std::move(merged);
    } else if (x.cc && x.cc->recorder && head.status == 200) {
        x.cc->recorder->feed_response(body);
    }
    co_await x.conn.send(head.status, head.content_type, body, extra);
}

}  // namespace

namespace {

// Whether an upstream outcome counts against the backend's breaker.
bool backend_failed(const exchange_ctx& x) {
    if (x.failed) return x.trigger != "status_429";
    return x.rec.status >= 500 && x.rec.status != 503;
}

}  // namespace

// One model of the chain: admission (managed models), the exchange, the
// breaker's bookkeeping. With `can_fallback`, a failure before anything
// reached the client is returned instead of answered.
net::awaitable<hop_result> run_hop(hop_ctx& h, const config::model& m, bool can_fallback, bool other_hop_follows) {
    auto& st = h.st;
    auto& rec = h.rec;
    rec.backend = m.backend;
    rec.model_label = m.name;
    rec.upstream_model = m.upstream_model;
    rec.status = 0;
    rec.error.clear();
    rec.ttfb_ms = -1;  // this hop's, not a failed earlier one's

    std::shared_ptr<swap_ticket> ticket;
    std::shared_ptr<backend_pool> pool_ref;
    if (auto mid = st.swap ? st.swap->managed(&m) : std::nullopt) {
        ticket = co_await st.swap->admit(*mid, h.conn.client_socket());
        if (ticket->st != swap_ticket::state::dispatched) st.breakers->abandoned(m.backend);
        if (ticket->st == swap_ticket::state::gone) {
            rec.status = 499;
            rec.error = "client_gone";
            co_return hop_result::client_gone;
        }
        if (ticket->st == swap_ticket::state::rejected) {
            // The scheduler's refusal holds for this model: only another model may help.
            if (other_hop_follows) {
                h.trigger = ticket->status == 429 ? "queue_full" : "model_unavailable";
                co_return hop_result::failed;
            }
            auto e = rejection_error(m.name, *ticket);
            rec.status = e.status;
            rec.error = e.code;
            header_list hl = h.route_headers;
            if (e.status == 429 || e.status == 503) {
                auto secs = std::max<long long>(1, (ticket->retry_after.count() + 999) / 1000);
                hl.emplace_back("Retry-After", std::to_string(secs));
            }
            co_await h.conn.send(e.status, "application/json", error_body(e), hl);
            co_return hop_result::answered;
        }
        pool_ref = ticket->pool;
    } else {
        auto it = st.pools.find(m.backend);
        if (it == st.pools.end()) {
            st.breakers->abandoned(m.backend);
            h.trigger = "no_backend";
            if (can_fallback) co_return hop_result::failed;
            auto e = upstream_unreachable(m.backend, "no server for this model");
            rec.status = e.status;
            co_await h.conn.send_error(e);
            co_return hop_result::answered;
        }
        pool_ref = it->second;
    }
    backend_pool& pool = *pool_ref;
    std::string body = h.cc.upstream_body ? *h.cc.upstream_body : h.hop_body;
    if (m.upstream_model != h.client_model) body = rewrite_model(body, m.upstream_model);
    if (h.cc.inject_usage) body = with_include_usage(body);

    // The watch aborts the call when a deadline passes or the client leaves; the
    // exchange then sees an error and reports why.
    exchange_watch watch(co_await asio::this_coro::executor, pool.cfg().timeouts, h.conn.client_socket());
    upstream_call call(pool, watch);
    watch.attach(call);
    exchange_ctx x{st, h.conn, call, watch, rec, build_upstream_request(pool, "POST", endpoint_path(h.ep), body, h.req.request_id),
                   h.t0, ticket.get(), &h.cc};
    x.extra = &h.route_headers;
    x.can_fallback = can_fallback;
    if (ticket) ticket->call = &call;
    if (auto* sink = h.conn.sink()) sink->exchange(&watch);
    const double hop_started_ms = ms_since(h.t0);  // after admission and earlier hops
    co_await run_exchange(x);
    if (auto* sink = h.conn.sink()) sink->exchange(nullptr);
    watch.finish();
    bool gone = x.client_gone();
    if (ticket) st.swap->finished(ticket, gone);
    if (gone) {
        if (rec.status == 0) rec.status = 499;
        st.breakers->abandoned(m.backend);
        co_return hop_result::client_gone;
    }
    st.breakers->record(m.backend, !backend_failed(x));
    if (!x.failed && rec.status / 100 == 2 && rec.ttfb_ms >= hop_started_ms)
        st.breakers->first_byte(m.backend, rec.ttfb_ms - hop_started_ms);
    if (x.failed) {
        h.trigger = x.trigger;
        co_return hop_result::failed;
    }
    co_return hop_result::answered;
}

}  // namespace swapgate::proxy
