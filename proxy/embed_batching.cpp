#include "proxy/embed_batching.hpp"

#include "proxy/handler.hpp"

#include <nlohmann/json.hpp>

namespace swapgate::proxy {

namespace asio = net::asio;
using json = nlohmann::json;
using sclock = std::chrono::steady_clock;

struct embed_batching::member {
    explicit member(net::any_io_executor ex) : ex(ex), wake(ex) { wake.expires_at(sclock::time_point::max()); }
    net::any_io_executor ex;
    net::steady_timer wake;
    std::uint64_t id = 0;
    json inputs;  // always an array of items
    std::size_t tokens = 0;
    embed_answer answer;
    bool done = false;
};

struct embed_batching::group {
    group(routing::batch_limits l, net::any_io_executor ex) : batcher(l), timer(ex) {}
    routing::embed_batcher batcher;
    net::steady_timer timer;
    std::optional<sclock::time_point> armed;
    std::map<std::uint64_t, std::shared_ptr<member>> waiting;
    const config::model* model = nullptr;
    json params;  // the body without input and model
};

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void finish(const std::shared_ptr<embed_batching::member>& m, embed_answer a) {
    asio::post(m->ex, [m, a = std::move(a)]() mutable {
        m->answer = std::move(a);
        m->done = true;
        m->wake.cancel();
    });
}

}  // namespace

embed_batching::embed_batching(asio::io_context& ioc, proxy_state& st)
    : ioc_(ioc), st_(st), strand_(asio::make_strand(ioc)) {}

embed_batching::~embed_batching() = default;

bool embed_batching::enabled_for(const config::model& m) const {
    auto it = st_.cfg->routing.models.find(m.name);
    return it != st_.cfg->routing.models.end() && it->second.batch.has_value();
}

net::awaitable<embed_answer> embed_batching::submit(const config::model& m, std::string body) {
    auto ex = co_await asio::this_coro::executor;
    auto j = json::parse(body, nullptr, false);
    auto mem = std::make_shared<member>(ex);
    mem->id = next_id_.fetch_add(1);
    const json& in = j["input"];
    if (in.is_string() || (in.is_array() && !in.empty() && in[0].is_number_integer())) mem->inputs = json::array({in});
    else mem->inputs = in;
    for (const auto& item : mem->inputs) mem->tokens += item.is_string() ? item.get_ref<const std::string&>().size() / 4 + 1 : item.size();
    j.erase("input");
    j.erase("model");
    std::string params = dump(j);
    asio::post(strand_, [this, key = m.name + "\x1f" + params, mp = &m, mem, params]() mutable {
        arrive(std::move(key), mp, std::move(mem), std::move(params));
    });
    while (!mem->done) co_await mem->wake.async_wait();
    co_return std::move(mem->answer);
}

void embed_batching::arrive(std::string key, const config::model* m, std::shared_ptr<member> mem, std::string params) {
    auto it = groups_.find(key);
    if (it == groups_.end()) {
        const auto& b = *st_.cfg->routing.models.at(m->name).batch;
        routing::batch_limits l{static_cast<std::size_t>(b.max_inputs), static_cast<std::size_t>(b.max_tokens), b.window,
                                static_cast<int>(b.slots)};
        it = groups_.emplace(key, std::make_unique<group>(l, strand_)).first;
        it->second->model = m;
        it->second->params = json::parse(params, nullptr, false);
    }
    auto& g = *it->second;
    g.waiting[mem->id] = mem;
    g.batcher.arrive(sclock::now(), mem->id, mem->inputs.size(), mem->tokens);
    dispatch(g);
}

void embed_batching::dispatch(group& g) {
    for (auto& ids : g.batcher.take_batches()) {
        std::vector<std::shared_ptr<member>> batch;
        for (auto id : ids) {
            auto it = g.waiting.find(id);
            if (it == g.waiting.end()) continue;
            batch.push_back(std::move(it->second));
            g.waiting.erase(it);
        }
        st_.stats.embed_batch_size.observe({g.model->name}, static_cast<double>(batch.size()));
        asio::co_spawn(strand_, run_batch(&g, std::move(batch)), asio::detached);
    }
    arm(g);
}

void embed_batching::arm(group& g) {
    auto w = g.batcher.next_wakeup();
    if (!w || (g.armed && *g.armed == *w)) return;
    g.armed = *w;
    g.timer.expires_at(*w);
    g.timer.async_wait([this, gp = &g](const net::error_code& ec) {
        if (ec) return;
        gp->armed.reset();
        gp->batcher.tick(sclock::now());
        dispatch(*gp);
    });
}

net::awaitable<void> embed_batching::run_batch(group* g, std::vector<std::shared_ptr<member>> batch) {
    const config::model& m = *g->model;
    json req = g->params;
    req["model"] = m.upstream_model;
    json all = json::array();
    for (const auto& mem : batch)
        for (const auto& item : mem->inputs) all.push_back(item);
    req["input"] = std::move(all);

    embed_answer fail{502, ""};
    std::shared_ptr<swap_ticket> ticket;
    std::shared_ptr<backend_pool> pool;
    if (auto mid = st_.swap ? st_.swap->managed(&m) : std::nullopt) {
        ticket = co_await st_.swap->admit(*mid, nullptr);
        if (ticket->st == swap_ticket::state::dispatched) pool = ticket->pool;
        else fail = {ticket->status ? ticket->status : 503,
                     error_body(api_error{ticket->status ? ticket->status : 503, "Model '" + m.name + "' is not available: " + ticket->reason,
                                          "server_error", "", "model_unavailable"})};
    } else if (auto it = st_.pools.find(m.backend); it != st_.pools.end()) {
        pool = it->second;
    }
    embed_answer shared_answer;
    std::string body;
    bool ok = false;
    if (pool) {
        exchange_watch watch(co_await asio::this_coro::executor, pool->cfg().timeouts, nullptr);
        upstream_call call(*pool, watch);
        watch.attach(call);
        if (ticket) ticket->call = &call;
        auto ec = co_await call.start(build_upstream_request(*pool, "POST", "/embeddings", dump(req), ""));
        if (!ec) {
            auto rec = co_await call.read_all(body);
            if (!rec) {
                call.release();
                ok = true;
                shared_answer.status = call.head().status;
            } else {
                fail.body = error_body(upstream_unreachable(m.backend, call.reason()));
            }
        } else {
            fail.body = error_body(upstream_unreachable(m.backend, call.reason()));
        }
        watch.finish();
        if (ticket) st_.swap->finished(ticket, false);
    } else if (fail.body.empty()) {
        fail.body = error_body(upstream_unreachable(m.backend, "no server for this model"));
    }

    auto up = ok ? json::parse(body, nullptr, false) : json();
    if (ok && shared_answer.status == 200 && up.is_object() && up.contains("data") && up["data"].is_array()) {
        // Vectors by index; each member takes its range, re-indexed from 0.
        std::size_t total_inputs = 0, total_tokens = 0;
        for (const auto& mem : batch) total_inputs += mem->inputs.size(), total_tokens += mem->tokens;
        std::vector<const json*> by_index(total_inputs, nullptr);
        for (const auto& d : up["data"])
            if (d.is_object() && d.contains("index") && d["index"].is_number_unsigned() && d["index"].get<std::size_t>() < total_inputs)
                by_index[d["index"].get<std::size_t>()] = &d;
        long long prompt = 0;
        if (up.contains("usage") && up["usage"].is_object()) prompt = up["usage"].value("prompt_tokens", 0LL);
        std::size_t offset = 0;
        long long given = 0;
        for (size_t k = 0; k < batch.size(); ++k) {
            auto& mem = batch[k];
            json data = json::array();
            bool complete = true;
            for (std::size_t i = 0; i < mem->inputs.size(); ++i) {
                const json* d = by_index[offset + i];
                if (!d) {
                    complete = false;
                    break;
                }
                json item = *d;
                item["index"] = i;
                data.push_back(std::move(item));
            }
            offset += mem->inputs.size();
            if (!complete) {
                finish(mem, {502, error_body(upstream_bad_response(m.backend, "the batched embeddings answer lacks inputs"))});
                continue;
            }
            long long share = k + 1 == batch.size() ? prompt - given
                                                    : (total_tokens ? prompt * static_cast<long long>(mem->tokens) / static_cast<long long>(total_tokens) : 0);
            given += share;
            json out{{"object", "list"}, {"data", std::move(data)}, {"model", up.value("model", m.upstream_model)},
                     {"usage", {{"prompt_tokens", share}, {"total_tokens", share}}}};
            finish(mem, {200, dump(out)});
        }
    } else if (ok && batch.size() > 1 && shared_answer.status / 100 == 4 && shared_answer.status != 429) {
        // The backend refused the merged call, most likely for one member's
        // input: each request goes again on its own and gets its own answer.
        for (auto& mem : batch) finish(mem, {0, ""});
    } else if (ok) {
        for (auto& mem : batch) finish(mem, {shared_answer.status, body});
    } else {
        for (auto& mem : batch) finish(mem, fail);
    }
    g->batcher.call_finished(sclock::now());
    dispatch(*g);
}

}  // namespace swapgate::proxy
