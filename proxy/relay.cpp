// Forwarding one completion/embedding request to its backend and relaying the
// response: whole bodies for plain responses, event by event for SSE streams.
#include "proxy/cache/cache_flow.hpp"
#include "proxy/handler.hpp"
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
        translate |= strip_usage && ev.has_data && usage_only_chunk(ev.data);
    }
    if (!translate) return parser.complete_bytes();
    scratch.clear();
    std::string_view raw = parser.complete_bytes();
    size_t at = 0;
    for (const auto& ev : parser.events()) {
        scratch.append(raw.substr(at, ev.begin - at));
        if (strip_usage && ev.has_data && usage_only_chunk(ev.data)) {
            // dropped
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
    bool client_gone() const { return watch.client_gone(); }
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

net::awaitable<void> relay_stream(exchange_ctx& x) {
    const auto& backend = x.rec.backend;
    const auto& head = x.call.head();
    header_list extra = head.pass_headers;
    if (x.cc && !x.cc->header.empty()) extra.emplace_back("X-Swapgate-Cache", x.cc->header);
    extra.emplace_back("Cache-Control", "no-cache");
    extra.emplace_back("X-Accel-Buffering", "no");
    if (auto ec = co_await x.conn.start_stream(head.status, head.content_type, extra)) {
        x.call.abort();
        x.rec.error = "client_gone";
        x.st.stats.stream_ends.add({"client_gone"});
        co_return;
    }
    x.rec.status = head.status;
    sse_parser parser;
    std::string piece, translated;
    cache::completion_recorder* recorder = x.cc && x.cc->recorder && head.status == 200 ? x.cc->recorder.get() : nullptr;
    const bool strip_usage = x.cc && x.cc->inject_usage;
    bool ended = false;  // the end of the body went out with the last chunk
    for (;;) {
        piece.clear();
        error_code ec = co_await x.call.read_some(piece);
        if (!piece.empty()) {
            if (x.rec.ttfb_ms < 0) x.rec.ttfb_ms = ms_since(x.t0);
            parser.feed(piece);
        }
        if (!ec && x.call.done()) parser.finish();
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
        co_await report_failure(x);
        co_return;
    }
    if (x.call.head().event_stream) {
        co_await relay_stream(x);
        co_return;
    }
    std::string body;
    if (auto ec = co_await x.call.read_all(body)) {
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
    if (!x.cc || x.cc->header.empty()) {
        co_await x.conn.send(head.status, head.content_type, body, head.pass_headers);
        co_return;
    }
    header_list extra = head.pass_headers;
    extra.emplace_back("X-Swapgate-Cache", x.cc->header);
    if (x.cc->embed && head.status == 200) {
        std::string merged, why;
        if (!merge_embeddings_answer(x.st, *x.cc, body, merged, why)) {
            auto e = upstream_bad_response(x.rec.backend, why);
            x.rec.status = e.status;
            x.rec.error = e.code;
            co_await x.conn.send(e.status, "application/json", error_body(e), extra);
            co_return;
        }
        body = std::move(merged);
    } else if (x.cc->recorder && head.status == 200) {
        x.cc->recorder->feed_response(body);
    }
    co_await x.conn.send(head.status, head.content_type, body, extra);
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
    auto route = st.catalog.resolve(info.model);
    if (!route) {
        auto e = model_not_found(info.model);
        rec.status = e.status;
        rec.error = e.code;
        co_await conn.send_error(e);
        co_return;
    }
    rec.backend = route->backend->name;
    rec.model_label = route->model->name;
    rec.upstream_model = route->model->upstream_model;

    // The cache first: a hit needs no backend, not even a resident model.
    cache_context cc;
    if (st.cache) {
        bool answered = co_await cache_prepare(st, conn, req, ep, *route->model, rec, cc);
        if (answered) co_return;
    }

    // A model with a driver waits for the scheduler: at once when resident
    // with a free slot, else until its load (or a refusal, or the client leaving).
    std::shared_ptr<swap_ticket> ticket;
    std::shared_ptr<backend_pool> pool_ref;
    if (auto mid = st.swap ? st.swap->managed(route->model) : std::nullopt) {
        ticket = co_await st.swap->admit(*mid, &conn.stream().socket());
        if (ticket->st == swap_ticket::state::gone) {
            rec.status = 499;
            rec.error = "client_gone";
            co_return;
        }
        if (ticket->st == swap_ticket::state::rejected) {
            auto e = rejection_error(route->model->name, *ticket);
            rec.status = e.status;
            rec.error = e.code;
            header_list h;
            if (e.status == 429 || e.status == 503) {
                auto secs = std::max<long long>(1, (ticket->retry_after.count() + 999) / 1000);
                h.emplace_back("Retry-After", std::to_string(secs));
            }
            co_await conn.send(e.status, "application/json", error_body(e), h);
            co_return;
        }
        pool_ref = ticket->pool;
    } else {
        pool_ref = st.pools.at(route->backend->name);
    }
    backend_pool& pool = *pool_ref;
    std::string body = cc.upstream_body ? std::move(*cc.upstream_body) : std::move(req.body);
    if (route->model->upstream_model != info.model) body = rewrite_model(body, route->model->upstream_model);
    if (cc.inject_usage) body = with_include_usage(body);

    // The watch aborts the call when a deadline passes or the client leaves; the
    // exchange then sees an error and reports why.
    exchange_watch watch(co_await asio::this_coro::executor, pool.cfg().timeouts, &conn.stream().socket());
    upstream_call call(pool, watch);
    watch.attach(call);
    exchange_ctx x{st,  conn, call, watch, rec, build_upstream_request(pool, "POST", endpoint_path(ep), body, req.request_id),
                   t0, ticket.get(), &cc};
    if (ticket) ticket->call = &call;
    co_await run_exchange(x);
    watch.finish();
    if (ticket) st.swap->finished(ticket, x.client_gone());
    if (st.cache) cache_finish(st, cc, *route->model, rec);
    if (x.client_gone() && rec.status == 0) rec.status = 499;
}

}  // namespace swapgate::proxy
