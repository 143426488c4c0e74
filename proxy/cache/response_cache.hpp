// The proxy's side of the response cache: where entries live (Redis, or an
// in-process LRU when no Redis is configured), the per-model settings in the
// cache module's terms, and the namespace of a request. Every operation fails
// open: a Redis that is down or slow is a miss and a dropped store, never an
// error for the client (a log line on each up/down change and metrics say so).
#pragma once
#include "cache/lru_store.hpp"
#include "cache/settings.hpp"
#include "config/config.hpp"
#include "proxy/metrics.hpp"
#include "proxy/net/net.hpp"

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace swapgate::redis {
class redis_client;
}

namespace swapgate::proxy {

class response_cache {
public:
    response_cache(net::asio::io_context& ioc, std::shared_ptr<const config::config> cfg, metrics& stats);
    ~response_cache();

    // "redis redis://host:port/db" or "in-process, 256 MiB".
    std::string describe() const;
    bool uses_redis() const { return redis_ != nullptr; }
    redis::redis_client* redis() { return redis_.get(); }

    // The cache module's settings for a model (mode, ttl, max entry size, semantic).
    const cache::model_cache_settings& settings(const config::model* m) const;
    // The identity a cache key uses for a model: aliases of one model share it;
    // a change of backend or upstream model starts afresh.
    std::string model_identity(const config::model* m) const;
    // From the request's (already accepted) Authorization header: the configured
    // tenant of its API key, else a hash of the key; "global" when auth is off.
    std::string namespace_for(std::string_view authorization) const;

    // Fail-open reads and writes. Keys are hex digests; the store adds its prefix.
    net::awaitable<std::optional<std::string>> get(std::string kind, std::string key);
    net::awaitable<std::vector<std::optional<std::string>>> get_many(std::string kind, std::vector<std::string> keys);
    // Fire and forget: returns at once. False when the in-process store
    // refused the entry (larger than the whole store); Redis failures only show
    // in the metrics.
    bool put(std::string kind, std::string key, std::string value, std::chrono::milliseconds ttl);
    void put_many(std::string kind, std::vector<std::pair<std::string, std::string>> entries,
                  std::chrono::milliseconds ttl);

    // Exact hits as they were last sent (body or SSE events), by key and form,
    // so a repeated hit skips decoding the record and rendering it again. Valid
    // only while the stored bytes are the same: the memo keeps them to compare.
    struct rendered_reply {
        cache::lru_store::value_ptr holder;
        std::string_view bytes;
    };
    std::optional<rendered_reply> rendered(std::string_view memo_key, std::string_view stored);
    void remember_rendered(std::string memo_key, std::string_view stored, std::string_view rendered);

    void shutdown();

private:
    cache::lru_store rendered_{8u << 20};
    net::asio::io_context& ioc_;
    std::shared_ptr<const config::config> cfg_;
    metrics& stats_;
    std::unique_ptr<cache::lru_store> memory_;
    std::unique_ptr<redis::redis_client> redis_;
    std::unordered_map<const config::model*, cache::model_cache_settings> settings_;
    cache::model_cache_settings off_;

    std::string full_key(const std::string& kind, const std::string& key) const;
};

}  // namespace swapgate::proxy
