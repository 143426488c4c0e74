#include "proxy/cache/semantic_tier.hpp"

#include "cache/replay.hpp"
#include "cache/request_key.hpp"
#include "cache/semantic.hpp"
#include "cache/vector_math.hpp"
#include "proxy/cache/cache_flow.hpp"
#include "proxy/cache/response_cache.hpp"
#include "proxy/redis/redis_client.hpp"
#include "proxy/request_log.hpp"

#include <nlohmann/json.hpp>

#include <cstring>

namespace swapgate::proxy {

namespace asio = net::asio;
using json = nlohmann::json;
using sclock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view entry_magic = "SGS1";

long long unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string float_bytes(const std::vector<float>& v) {
    std::string out(v.size() * sizeof(float), '\0');
    std::memcpy(out.data(), v.data(), out.size());
    return out;
}

std::vector<float> floats_of(std::string_view b) {
    std::vector<float> v(b.size() / sizeof(float));
    std::memcpy(v.data(), b.data(), v.size() * sizeof(float));
    return v;
}

net::awaitable<void> xadd(redis::redis_client* r, metrics* stats, std::vector<std::string> args) {
    auto res = co_await r->command(std::move(args));
    if (!res.ok()) stats->cache_store_errors.add({"xadd"});
}

}  // namespace

std::string encode_semantic_entry(const std::string& partition_hex, long long expires_unix_ms, const std::vector<float>& v) {
    std::string out(entry_magic);
    out += partition_hex;
    out.append(reinterpret_cast<const char*>(&expires_unix_ms), sizeof expires_unix_ms);
    out += float_bytes(v);
    return out;
}

bool decode_semantic_entry(std::string_view b, std::string& partition_hex, long long& expires_unix_ms,
                           std::vector<float>& v) {
    const size_t head = entry_magic.size() + 32 + sizeof(long long);
    if (b.size() < head + sizeof(float) || b.substr(0, entry_magic.size()) != entry_magic ||
        (b.size() - head) % sizeof(float) != 0)
        return false;
    partition_hex = std::string(b.substr(entry_magic.size(), 32));
    std::memcpy(&expires_unix_ms, b.data() + entry_magic.size() + 32, sizeof expires_unix_ms);
    v = floats_of(b.substr(head));
    return true;
}

semantic_tier::semantic_tier(asio::io_context& ioc, proxy_state& st) : ioc_(ioc), st_(st) {
    cache::semantic_index_limits l;
    l.max_bytes = st.cfg->cache.semantic_memory_bytes;
    index_ = std::make_unique<cache::semantic_index>(l);
    writer_ = std::make_unique<asio::thread_pool>(1);
    log_key_ = st.cfg->cache.key_prefix + "semantic:log";
}

semantic_tier::~semantic_tier() { shutdown(); }

void semantic_tier::shutdown() {
    stopped_ = true;
    if (writer_) {
        writer_->join();
        writer_.reset();
    }
}

void semantic_tier::start() {
    if (st_.cache->uses_redis()) asio::co_spawn(ioc_, follow(), asio::detached);
}

void semantic_tier::index_insert(std::string partition_hex, std::string entry_key, std::vector<float> v,
                                 std::chrono::milliseconds ttl) {
    if (!writer_) return;
    asio::post(*writer_, [this, p = std::move(partition_hex), k = std::move(entry_key), v = std::move(v), ttl]() mutable {
        auto key = cache::parse_key128(p);
        if (!key) return;
        auto now = sclock::now();
        index_->insert(*key, k, std::move(v), now + ttl, now);
    });
}

void semantic_tier::index_remove(std::string partition_hex, std::string entry_key) {
    if (!writer_) return;
    asio::post(*writer_, [this, p = std::move(partition_hex), k = std::move(entry_key)] {
        if (auto key = cache::parse_key128(p)) index_->remove(*key, k);
    });
}

bool semantic_tier::inject(const std::string& partition_hex, const std::string& entry_key, std::vector<float> vector) {
    auto key = cache::parse_key128(partition_hex);
    if (!key) return false;
    auto now = sclock::now();
    return index_->insert(*key, entry_key, std::move(vector), now + 1h, now);
}

net::awaitable<std::optional<std::vector<float>>> semantic_tier::embed(const config::model& model, std::string text) {
    const auto& name = st_.cache->settings(&model).semantic.embedding_model;
    auto route = st_.catalog.resolve(name);
    if (!route) co_return std::nullopt;
    auto deadline = sclock::now() + st_.cfg->cache.embed_timeout;
    std::shared_ptr<swap_ticket> ticket;
    std::shared_ptr<backend_pool> pool;
    if (auto mid = st_.swap->managed(route->model)) {
        ticket = co_await st_.swap->admit(*mid, nullptr, deadline);
        if (ticket->st != swap_ticket::state::dispatched) {
            st_.stats.cache_semantic_rejects.add({"embedding_model_not_ready"});
            co_return std::nullopt;
        }
        pool = ticket->pool;
    } else {
        auto it = st_.pools.find(route->backend->name);
        if (it == st_.pools.end()) co_return std::nullopt;
        pool = it->second;
    }
    json req{{"model", route->model->upstream_model}, {"input", std::move(text)}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - sclock::now());
    if (left < 1ms) left = 1ms;
    config::timeout_settings t;
    t.connect = t.first_byte = t.idle = t.total = left;
    exchange_watch watch(co_await asio::this_coro::executor, t, nullptr);
    upstream_call call(*pool, watch);
    watch.attach(call);
    if (ticket) ticket->call = &call;
    std::string body;
    bool ok = false;
    auto ec = co_await call.start(build_upstream_request(*pool, "POST", "/embeddings", req.dump(), ""));
    if (!ec) {
        auto rec = co_await call.read_all(body);
        ok = !rec && call.head().status == 200;
        if (!rec) call.release();
    }
    watch.finish();
    if (ticket) st_.swap->finished(ticket, false);
    if (!ok) {
        st_.stats.cache_semantic_rejects.add({watch.fired() ? "embedding_timeout" : "embedding_failed"});
        co_return std::nullopt;
    }
    auto j = json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
        !j["data"][0].is_object() || !j["data"][0].contains("embedding")) {
        st_.stats.cache_semantic_rejects.add({"embedding_failed"});
        co_return std::nullopt;
    }
    auto v = cache::parse_embedding(j["data"][0]["embedding"]);
    if (!v || !cache::l2_normalize(*v)) co_return std::nullopt;
    co_return v;
}

net::awaitable<std::optional<semantic_tier::hit>> semantic_tier::find(const config::model& model, std::string ns,
                                                                      const json& body, cache_context& cc, bool lookup) {
    const auto& s = st_.cache->settings(&model).semantic;
    auto plan = cache::semantic_plan(cache::endpoint_chat, st_.cache->model_identity(&model), ns, body, s);
    if (!plan.eligible) co_return std::nullopt;
    auto vec = co_await embed(model, plan.text_to_embed);
    if (!vec) co_return std::nullopt;
    cc.semantic_partition = plan.partition_key.hex();
    cc.semantic_vector = *vec;
    if (!lookup) co_return std::nullopt;
    auto m = index_->lookup(plan.partition_key, *vec, s.threshold, sclock::now());
    if (!m) co_return std::nullopt;

    // Verification: nothing the index says is trusted without the store.
    auto reject = [&](const char* why) { st_.stats.cache_semantic_rejects.add({why}); };
    auto entry = co_await st_.cache->get(std::string("s"), m->entry_key);
    if (!entry) {
        reject("entry_missing");
        index_remove(cc.semantic_partition, m->entry_key);
        co_return std::nullopt;
    }
    std::string partition;
    long long expires = 0;
    std::vector<float> stored;
    if (!decode_semantic_entry(*entry, partition, expires, stored)) {
        reject("entry_corrupt");
        co_return std::nullopt;
    }
    if (partition != cc.semantic_partition) {
        reject("partition_mismatch");
        co_return std::nullopt;
    }
    float similarity = cache::cosine(stored, *vec);
    if (similarity < s.threshold) {
        reject("below_threshold");
        co_return std::nullopt;
    }
    auto bytes = co_await st_.cache->get(std::string("r"), m->entry_key);
    if (!bytes) {
        reject("record_missing");
        index_remove(cc.semantic_partition, m->entry_key);
        co_return std::nullopt;
    }
    auto record = cache::deserialize_record(*bytes);
    if (!record || !cache::replayable(*record, cc.client_stream, cc.include_usage)) {
        reject("not_replayable");
        co_return std::nullopt;
    }
    co_return hit{*record, similarity};
}

void semantic_tier::store(const cache_context& cc) {
    if (cc.semantic_partition.empty() || cc.semantic_vector.empty()) return;
    auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(cc.settings->ttl);
    long long expires = unix_ms_now() + ttl.count();
    st_.cache->put("s", cc.key, encode_semantic_entry(cc.semantic_partition, expires, cc.semantic_vector), ttl);
    index_insert(cc.semantic_partition, cc.key, cc.semantic_vector, ttl);
    if (auto* r = st_.cache->redis()) {
        std::vector<std::string> args{"XADD", log_key_, "MAXLEN", "~", std::to_string(st_.cfg->cache.stream_maxlen), "*",
                                      "p", cc.semantic_partition, "k", cc.key, "x", std::to_string(expires),
                                      "v", float_bytes(cc.semantic_vector)};
        asio::co_spawn(ioc_, xadd(r, &st_.stats, std::move(args)), asio::detached);
    }
}

net::awaitable<std::string> semantic_tier::load_existing() {
    auto* r = st_.cache->redis();
    // The log position first: entries added while scanning are read from the log again.
    std::vector<std::string> rev{"XREVRANGE", log_key_, "+", "-", "COUNT", "1"};
    auto last = co_await r->command(std::move(rev));
    if (!last.ok()) co_return std::string();
    std::string id = "0-0";
    if (last.reply.is_array() && !last.reply.elements.empty() && last.reply.elements[0].is_array() &&
        !last.reply.elements[0].elements.empty())
        id = last.reply.elements[0].elements[0].str;
    const std::string prefix = st_.cfg->cache.key_prefix + "s:";
    std::string cursor = "0";
    std::size_t loaded = 0;
    long long now_ms = unix_ms_now();
    do {
        std::vector<std::string> scan{"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "500"};
        auto res = co_await r->command(std::move(scan));
        if (!res.ok() || !res.reply.is_array() || res.reply.elements.size() != 2) co_return std::string();
        cursor = res.reply.elements[0].str;
        std::vector<std::string> keys;
        for (const auto& k : res.reply.elements[1].elements)
            if (k.is_string()) keys.push_back(k.str.substr(prefix.size()));
        auto values = co_await st_.cache->get_many(std::string("s"), keys);
        for (size_t i = 0; i < keys.size(); ++i) {
            if (!values[i]) continue;
            std::string part;
            long long expires = 0;
            std::vector<float> v;
            if (!decode_semantic_entry(*values[i], part, expires, v) || expires <= now_ms) continue;
            index_insert(part, keys[i], std::move(v), std::chrono::milliseconds(expires - now_ms));
            ++loaded;
        }
    } while (cursor != "0" && !stopped_);
    log_event("info", "semantic", "loaded " + std::to_string(loaded) + " semantic cache entries from Redis");
    co_return id;
}

net::awaitable<void> semantic_tier::follow() {
    auto* r = st_.cache->redis();
    net::steady_timer pause(ioc_);
    std::string last;
    while (!stopped_) {
        if (last.empty()) {
            last = co_await load_existing();
            if (last.empty()) {  // Redis not there (yet): try again shortly
                pause.expires_after(1s);
                co_await pause.async_wait();
                continue;
            }
        }
        std::vector<std::string> args{"XREAD", "BLOCK", "2000", "COUNT", "512", "STREAMS", log_key_, last};
        auto res = co_await r->blocking_command(std::move(args), 3000ms);
        if (stopped_ || res.failure == redis::redis_failure::shutdown) co_return;
        if (!res.ok()) {
            pause.expires_after(1s);
            co_await pause.async_wait();
            continue;
        }
        if (!res.reply.is_array()) continue;  // nil: nothing new within the block time
        long long now_ms = unix_ms_now();
        for (const auto& stream : res.reply.elements) {
            if (!stream.is_array() || stream.elements.size() != 2) continue;
            for (const auto& e : stream.elements[1].elements) {
                if (!e.is_array() || e.elements.size() != 2) continue;
                last = e.elements[0].str;
                std::string part, key, vec;
                long long expires = 0;
                const auto& f = e.elements[1].elements;
                for (size_t i = 0; i + 1 < f.size(); i += 2) {
                    if (f[i].str == "p") part = f[i + 1].str;
                    else if (f[i].str == "k") key = f[i + 1].str;
                    else if (f[i].str == "x") expires = std::atoll(f[i + 1].str.c_str());
                    else if (f[i].str == "v") vec = f[i + 1].str;
                }
                if (part.size() != 32 || key.empty() || vec.empty() || expires <= now_ms) continue;
                index_insert(part, key, floats_of(vec), std::chrono::milliseconds(expires - now_ms));
            }
        }
    }
}

}  // namespace swapgate::proxy
