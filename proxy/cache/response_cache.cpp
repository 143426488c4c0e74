#include "proxy/cache/response_cache.hpp"

#include "cache/eligibility.hpp"
#include "cache/hash.hpp"
#include "proxy/redis/redis_client.hpp"
#include "proxy/request_log.hpp"

#include <cstring>

namespace swapgate::proxy {

namespace asio = net::asio;
using sclock = std::chrono::steady_clock;

namespace {

// A set that nobody awaits; its outcome only shows in the metrics.
net::awaitable<void> redis_set(redis::redis_client* r, metrics* stats, std::vector<std::string> args) {
    auto res = co_await r->command(std::move(args));
    if (!res.ok()) stats->cache_store_errors.add({"set"});
}

}  // namespace

response_cache::response_cache(asio::io_context& ioc, std::shared_ptr<const config::config> cfg, metrics& stats)
    : ioc_(ioc), cfg_(std::move(cfg)), stats_(stats) {
    off_.mode = cache::cache_mode::off;
    for (const auto& m : cfg_->models) {
        cache::model_cache_settings s;
        s.mode = cache::parse_cache_mode(m.cache.mode).value_or(cache::cache_mode::deterministic);
        s.ttl = m.cache.ttl;
        s.max_entry_bytes = m.cache.max_entry_bytes;
        const auto& sem = m.cache.semantic;
        s.semantic.enabled = sem.enabled;
        s.semantic.embedding_model = sem.embedding_model;
        s.semantic.threshold = static_cast<float>(sem.threshold);
        s.semantic.min_chars = static_cast<std::size_t>(sem.min_chars);
        s.semantic.max_chars = static_cast<std::size_t>(sem.max_chars);
        s.semantic.max_turns = static_cast<std::size_t>(sem.max_turns);
        settings_.emplace(&m, s);
    }
    const auto& c = cfg_->cache;
    if (c.redis_url.empty()) {
        memory_ = std::make_unique<cache::lru_store>(c.memory_bytes);
        stats_.cache_backend_up.set({"memory"}, 1);
        return;
    }
    std::string why;
    auto url = redis::parse_redis_url(c.redis_url, why);
    if (!url) throw std::runtime_error("cache.redis: " + why);
    redis::redis_settings rs;
    rs.url = *url;
    rs.pool_size = static_cast<std::size_t>(c.redis_pool);
    rs.connect_timeout = c.redis_connect_timeout;
    rs.command_timeout = c.redis_timeout;
    stats_.cache_backend_up.set({"redis"}, 0);
    auto* stats_ptr = &stats_;
    redis_ = std::make_unique<redis::redis_client>(
        ioc_.get_executor(), rs, [stats_ptr, shown = redis::display_url(*url)](bool up, std::string why) {
            stats_ptr->cache_backend_up.set({"redis"}, up ? 1 : 0);
            if (up) log_event("info", "redis", "cache store " + shown + " is up");
            else log_event("warn", "redis", "cache store " + shown + " is down (" + why + "): lookups miss, stores are dropped");
        });
}

response_cache::~response_cache() { shutdown(); }

void response_cache::shutdown() {
    if (redis_) redis_->shutdown();
}

std::string response_cache::describe() const {
    if (redis_) return "redis " + redis::display_url(redis_->settings().url);
    return "in-process, " + std::to_string(cfg_->cache.memory_bytes >> 20) + " MiB";
}

const cache::model_cache_settings& response_cache::settings(const config::model* m) const {
    auto it = settings_.find(m);
    return it == settings_.end() ? off_ : it->second;
}

std::string response_cache::model_identity(const config::model* m) const {
    return m->name + "\x1f" + m->backend + "\x1f" + m->upstream_model;
}

std::string response_cache::namespace_for(std::string_view authorization) const {
    if (cfg_->auth.api_keys.empty()) return "global";
    constexpr std::string_view bearer = "Bearer ";
    std::string key(authorization.substr(std::min(authorization.size(), bearer.size())));
    auto it = cfg_->cache.tenants.find(key);
    if (it != cfg_->cache.tenants.end()) return "tenant:" + it->second;
    // The key itself never appears in a cache key or in Redis.
    return "key:" + cache::hash128(key).hex().substr(0, 24);
}

std::string response_cache::full_key(const std::string& kind, const std::string& key) const {
    return cfg_->cache.key_prefix + kind + ":" + key;
}

net::awaitable<std::optional<std::string>> response_cache::get(std::string kind, std::string key) {
    if (memory_) {
        auto v = memory_->get(full_key(kind, key), sclock::now());
        if (!v) co_return std::nullopt;
        co_return *v;
    }
    std::vector<std::string> args{std::string("GET"), full_key(kind, key)};  // (GCC 12: no braced list in co_await)
    auto r = co_await redis_->command(std::move(args));
    if (!r.ok()) {
        stats_.cache_store_errors.add({"get"});
        co_return std::nullopt;
    }
    if (!r.reply.is_string()) co_return std::nullopt;
    co_return std::move(r.reply.str);
}

net::awaitable<std::vector<std::optional<std::string>>> response_cache::get_many(std::string kind,
                                                                                std::vector<std::string> keys) {
    std::vector<std::optional<std::string>> out(keys.size());
    if (keys.empty()) co_return out;
    if (memory_) {
        auto now = sclock::now();
        for (size_t i = 0; i < keys.size(); ++i)
            if (auto v = memory_->get(full_key(kind, keys[i]), now)) out[i] = *v;
        co_return out;
    }
    std::vector<std::string> args{"MGET"};
    for (const auto& k : keys) args.push_back(full_key(kind, k));
    auto r = co_await redis_->command(std::move(args));
    if (!r.ok() || !r.reply.is_array() || r.reply.elements.size() != keys.size()) {
        stats_.cache_store_errors.add({"mget"});
        co_return out;
    }
    for (size_t i = 0; i < keys.size(); ++i)
        if (r.reply.elements[i].is_string()) out[i] = std::move(r.reply.elements[i].str);
    co_return out;
}

std::optional<response_cache::rendered_reply> response_cache::rendered(std::string_view memo_key,
                                                                       std::string_view stored) {
    auto v = rendered_.get(memo_key, sclock::now());
    if (!v || v->size() < 8) return std::nullopt;
    std::uint64_t n = 0;
    std::memcpy(&n, v->data(), 8);
    if (n != stored.size() || v->size() < 8 + n || std::string_view(*v).substr(8, n) != stored) return std::nullopt;
    return rendered_reply{v, std::string_view(*v).substr(8 + n)};
}

void response_cache::remember_rendered(std::string memo_key, std::string_view stored, std::string_view rendered) {
    std::string v;
    v.reserve(8 + stored.size() + rendered.size());
    std::uint64_t n = stored.size();
    v.append(reinterpret_cast<const char*>(&n), 8);
    v.append(stored);
    v.append(rendered);
    auto now = sclock::now();
    rendered_.put(std::move(memo_key), std::move(v), now + std::chrono::hours(1), now);
}

bool response_cache::put(std::string kind, std::string key, std::string value, std::chrono::milliseconds ttl) {
    if (memory_) {
        auto now = sclock::now();
        return memory_->put(full_key(kind, key), std::move(value), now + ttl, now);
    }
    asio::co_spawn(ioc_,
                   redis_set(redis_.get(), &stats_,
                             {"SET", full_key(kind, key), std::move(value), "PX", std::to_string(ttl.count())}),
                   asio::detached);
    return true;
}

void response_cache::put_many(std::string kind, std::vector<std::pair<std::string, std::string>> entries,
                              std::chrono::milliseconds ttl) {
    for (auto& [k, v] : entries) put(kind, std::move(k), std::move(v), ttl);
}

}  // namespace swapgate::proxy
