// Inference endpoints: /v1/chat/completions, /v1/completions, /v1/embeddings.
// Each request races its work (admission, slot wait, timed tokens) against the
// client leaving, so a vanished client frees its slot at once and is counted.
#include <atomic>
#include <ctime>
#include <optional>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "bench/sim/app.hpp"
#include "bench/sim/embed.hpp"
#include "bench/sim/generate.hpp"
#include "bench/sim/hash.hpp"
#include "bench/sim/wire.hpp"

namespace swapgate::sim {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using clock = std::chrono::steady_clock;

enum class outcome {
    answered_ok,     // 200 written in full
    answered_error,  // an error status written in full
    write_failed,    // the client went away under a write
    cancelled,       // a wait was cancelled (the client left)
    killed,          // die_after_tokens closed the socket on purpose
};

constexpr std::string_view retry_after_header = "Retry-After: 1\r\n";

std::string_view extra_for(int status) { return status == 429 ? retry_after_header : std::string_view{}; }

std::string next_id(std::string_view prefix) {
    static const uint64_t nonce = combine(static_cast<uint64_t>(std::time(nullptr)), static_cast<uint64_t>(::getpid()));
    static std::atomic<uint64_t> counter{0};
    std::string id(prefix);
    id += hex_id(combine(nonce, counter.fetch_add(1, std::memory_order_relaxed)));
    return id;
}

// Holds one of a model's slots; gives it back however the request ends.
struct slot_hold {
    models& m;
    size_t i;
    bool held = false;
    ~slot_hold() {
        if (held) m.release(i);
    }
};

// The books of one inference request. Counters move *before* the last byte is
// written, so a client that has read its response sees them settled.
struct request_book {
    sim_stats& s;
    model_counters& c;
    bool active = true;
    bool completed = false;
    request_book(sim_stats& st, model_counters& mc) : s(st), c(mc) {
        ++s.active_requests;
        ++c.active;
        ++c.requests;
    }
    ~request_book() { end(); }
    request_book(const request_book&) = delete;
    request_book& operator=(const request_book&) = delete;
    void end() {
        if (!active) return;
        active = false;
        --s.active_requests;
        --c.active;
    }
    // Before the final write of a 200, or of an error status.
    void answered(int status) {
        if (status == 200) {
            completed = true;
            ++s.completed;
            ++c.completed;
        } else {
            ++s.errors;
        }
        end();
    }
    // The final write failed after all: the client left instead.
    void write_failed() {
        if (completed) {
            completed = false;
            --s.completed;
            --c.completed;
        }
        end();
    }
};

net::awaitable<bool> wait_until(net::steady_timer& t, clock::time_point deadline) {
    if (deadline <= clock::now()) co_return true;
    t.expires_at(deadline);
    auto [ec] = co_await t.async_wait();
    co_return !ec;
}

net::awaitable<void> forever() {
    net::steady_timer t(co_await asio::this_coro::executor, clock::time_point::max());
    co_await t.async_wait();
}

net::awaitable<outcome> answer(client_io& io, int status, std::string_view body, bool keep_alive,
                               request_book& book) {
    std::string bytes = json_response(status, body, keep_alive, extra_for(status));
    book.answered(status);
    if (co_await io.write(bytes)) {
        book.write_failed();
        co_return outcome::write_failed;
    }
    co_return status == 200 ? outcome::answered_ok : outcome::answered_error;
}

// The steps every inference request takes before it runs: the header delay, an
// injected status, residency (503 / 507 / on-demand load) and a slot.
// Returns the outcome that ended the request early, or nullopt to go on.
net::awaitable<std::optional<outcome>> admit_request(app& a, client_io& io, const sim_switches& sim, size_t model,
                                                     bool keep_alive, slot_hold& slot, request_book& book) {
    net::steady_timer t(co_await asio::this_coro::executor);
    if (sim.first_byte_delay_ms > 0 &&
        !co_await wait_until(t, clock::now() + std::chrono::milliseconds(sim.first_byte_delay_ms)))
        co_return outcome::cancelled;
    if (sim.status != 0) {
        ++a.stats().faults_injected;
        co_return co_await answer(io, sim.status, status_error(sim.status), keep_alive, book);
    }
    admit ad = co_await a.registry().ready(model);
    if (ad.status == 0) co_return outcome::cancelled;
    if (!ad.ok()) co_return co_await answer(io, ad.status, ad.body, keep_alive, book);
    if (!co_await a.registry().acquire(model)) co_return outcome::cancelled;
    slot.held = true;
    co_return std::nullopt;
}

struct timing {
    clock::duration ttft{};
    clock::duration gap{};
};

timing timing_for(const model_spec& spec, const sim_switches& sim) {
    timing t;
    t.ttft = std::chrono::milliseconds(sim.ttft_ms >= 0 ? sim.ttft_ms : spec.ttft_ms);
    if (sim.token_delay_ms >= 0) t.gap = std::chrono::milliseconds(sim.token_delay_ms);
    else if (spec.tps > 0) t.gap = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / spec.tps));
    return t;
}

// Writes and empties `out`; false when the client is gone.
net::awaitable<bool> flush(client_io& io, std::string& out) {
    if (out.empty()) co_return true;
    auto ec = co_await io.write(out);
    out.clear();
    co_return !ec;
}

// Streams the reply token by token. Output produced while no wait is due is
// coalesced into one write; everything is flushed before each wait.
net::awaitable<outcome> stream_reply(app& a, client_io& io, const gen_request& r, const reply_meta& meta,
                                     const reply_plan& plan, timing tm, bool keep_alive, request_book& book) {
    net::steady_timer t(co_await asio::this_coro::executor);
    sse_builder sse(meta, plan, r.kind == endpoint::chat);
    std::string out;
    out.reserve(1024);
    append_head(out, 200, "text/event-stream", -1, keep_alive);
    sse.head(out);
    const size_t n = plan.stream_tokens();
    const auto start = clock::now();
    for (size_t i = 0; i <= n; ++i) {
        const auto at = static_cast<int64_t>(i);
        if (at == r.sim.die_after_tokens || at == r.sim.stall_after_tokens || at == r.sim.exit_after_tokens) {
            if (!co_await flush(io, out)) co_return outcome::write_failed;
            ++a.stats().faults_injected;
            if (at == r.sim.exit_after_tokens) ::_exit(3);
            if (at == r.sim.die_after_tokens) {
                io.abort();
                co_return outcome::killed;
            }
            co_await forever();  // stalled: only the client leaving ends this
            co_return outcome::cancelled;
        }
        if (i == n) break;
        auto due = start + tm.ttft + tm.gap * static_cast<int64_t>(i);
        if (due > clock::now()) {
            if (!co_await flush(io, out)) co_return outcome::write_failed;
            if (!co_await wait_until(t, due)) co_return outcome::cancelled;
        }
        sse.token(out, i);
    }
    sse.tail(out);
    book.answered(200);
    if (!co_await flush(io, out)) {
        book.write_failed();
        co_return outcome::write_failed;
    }
    co_return outcome::answered_ok;
}

// Waits as long as generating the whole reply takes, then answers in one piece.
net::awaitable<outcome> whole_reply(app& a, client_io& io, const gen_request& r, const reply_meta& meta,
                                    const reply_plan& plan, timing tm, bool keep_alive, request_book& book) {
    net::steady_timer t(co_await asio::this_coro::executor);
    const auto n = static_cast<int64_t>(plan.stream_tokens());
    const auto start = clock::now();
    auto time_of = [&](int64_t tokens) { return start + tm.ttft + tm.gap * std::max<int64_t>(tokens - 1, 0); };
    // A fault set at or before the end of the reply fires at that token's time.
    int64_t fault_at = n + 1;
    for (int64_t f : {r.sim.die_after_tokens, r.sim.stall_after_tokens, r.sim.exit_after_tokens})
        if (f >= 0) fault_at = std::min(fault_at, std::min(f, n));
    if (fault_at <= n) {
        if (!co_await wait_until(t, time_of(fault_at))) co_return outcome::cancelled;
        ++a.stats().faults_injected;
        if (r.sim.exit_after_tokens >= 0 && std::min(r.sim.exit_after_tokens, n) == fault_at) ::_exit(3);
        if (r.sim.die_after_tokens >= 0 && std::min(r.sim.die_after_tokens, n) == fault_at) {
            io.abort();
            co_return outcome::killed;
        }
        co_await forever();
        co_return outcome::cancelled;
    }
    if (!co_await wait_until(t, time_of(n))) co_return outcome::cancelled;
    std::string body = r.kind == endpoint::chat ? chat_completion_body(meta, plan) : text_completion_body(meta, plan);
    co_return co_await answer(io, 200, body, keep_alive, book);
}

net::awaitable<outcome> run_generation(app& a, client_io& io, const gen_request& r, size_t model,
                                       std::string_view echo, bool keep_alive, request_book& book) {
    slot_hold slot{a.registry(), model};
    if (auto early = co_await admit_request(a, io, r.sim, model, keep_alive, slot, book)) co_return *early;
    const model_spec& spec = a.registry().spec(model);
    reply_plan plan = plan_reply(echo, r, spec.reply_tokens);
    reply_meta meta;
    meta.id = next_id(r.kind == endpoint::chat ? "chatcmpl-" : "cmpl-");
    meta.created = static_cast<int64_t>(std::time(nullptr));
    meta.model = std::string(echo);
    meta.include_usage = r.stream && r.include_usage;
    timing tm = timing_for(spec, r.sim);
    if (r.stream) co_return co_await stream_reply(a, io, r, meta, plan, tm, keep_alive, book);
    co_return co_await whole_reply(a, io, r, meta, plan, tm, keep_alive, book);
}

net::awaitable<outcome> run_embeddings(app& a, client_io& io, const embed_request& r, size_t model,
                                       std::string_view echo, bool keep_alive, request_book& book) {
    slot_hold slot{a.registry(), model};
    if (auto early = co_await admit_request(a, io, r.sim, model, keep_alive, slot, book)) co_return *early;
    const model_spec& spec = a.registry().spec(model);
    net::steady_timer t(co_await asio::this_coro::executor);
    auto cost = std::chrono::microseconds(
        std::llround(1000.0 * (spec.embed_call_ms + spec.embed_item_ms * static_cast<double>(r.items.size()))));
    if (!co_await wait_until(t, clock::now() + cost)) co_return outcome::cancelled;
    std::vector<std::vector<float>> vectors;
    vectors.reserve(r.items.size());
    for (const auto& item : r.items) vectors.push_back(embed_text(item, spec.dims));
    co_return co_await answer(io, 200, embeddings_body(echo, vectors, r.base64, r.prompt_tokens), keep_alive, book);
}

// What the outcome of one inference request means for the connection.
bool settle(app& a, client_io& io, const request_book& book, std::variant<outcome, std::monostate> res,
            bool keep_alive) {
    outcome o = res.index() == 1 ? outcome::cancelled : std::get<0>(res);
    // The client read its whole response and hung up at once: done, not abandoned.
    if (o == outcome::cancelled && book.completed) {
        io.abort();
        return false;
    }
    switch (o) {
    case outcome::answered_ok:
    case outcome::answered_error:
        return keep_alive && io.reusable();
    case outcome::killed:
        return false;
    case outcome::write_failed:
    case outcome::cancelled:
        ++a.stats().client_disconnects;
        io.abort();
        return false;
    }
    return false;
}

net::awaitable<bool> reject(app& a, client_io& io, const request_error& e, bool keep_alive) {
    ++a.stats().errors;
    co_return co_await respond(io, e.status, openai_error(e.message, "invalid_request_error", e.param, e.code),
                               keep_alive);
}

}  // namespace

net::awaitable<bool> handle_generation(app& a, http_request& req, client_io& io, endpoint kind) {
    ++a.stats().requests;
    request_error err;
    auto r = parse_gen_request(req.body, kind, err);
    if (!r) co_return co_await reject(a, io, err, req.keep_alive);
    if (int status = a.faults().next()) {
        ++a.stats().faults_injected;
        ++a.stats().errors;
        co_return co_await respond(io, status, status_error(status), req.keep_alive, extra_for(status));
    }
    int model = a.registry().find(r->model);
    if (model < 0) {
        ++a.stats().errors;
        co_return co_await respond(io, 404, model_not_found(r->model), req.keep_alive);
    }
    std::string echo = r->model.empty() ? a.registry().spec(model).name : r->model;
    request_book book(a.stats(), a.registry().counters(model));
    auto res = co_await (run_generation(a, io, *r, model, echo, req.keep_alive, book) || io.gone());
    co_return settle(a, io, book, res, req.keep_alive);
}

net::awaitable<bool> handle_embeddings(app& a, http_request& req, client_io& io) {
    ++a.stats().requests;
    request_error err;
    auto r = parse_embed_request(req.body, err);
    if (!r) co_return co_await reject(a, io, err, req.keep_alive);
    int model = a.registry().find(r->model);
    if (model < 0) {
        ++a.stats().errors;
        co_return co_await respond(io, 404, model_not_found(r->model), req.keep_alive);
    }
    std::string echo = r->model.empty() ? a.registry().spec(model).name : r->model;
    request_book book(a.stats(), a.registry().counters(model));
    auto res = co_await (run_embeddings(a, io, *r, model, echo, req.keep_alive, book) || io.gone());
    co_return settle(a, io, book, res, req.keep_alive);
}

}  // namespace swapgate::sim
