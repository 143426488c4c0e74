// The semantic cache tier: answers a chat request from a stored completion
// whose final user message meant the same, within one partition (everything
// else equal: namespace, model, system prompt, earlier turns, tools,
// parameters; cache/semantic.hpp).
//
// - The final user message is embedded through swapgate's own routing (the
//   model's `cache.semantic.embedding_model`), within `cache.embed_timeout`
//   (default 50 ms); past it the tier is skipped for this request.
// - Entries live in the store under "s:<response key>" (partition, expiry and
//   the float32 vector) with the response's TTL; the in-process index
//   (cache/semantic_index.hpp: exact search, HNSW for large partitions) finds
//   candidates. With Redis, every stored entry is also appended to a Redis
//   Stream (XADD, MAXLEN ~ cache.stream_maxlen) that every replica follows
//   (XREAD BLOCK) after loading the existing entries (SCAN) at start.
// - A candidate is served only after verification: its store entry exists,
//   its partition equals the request's byte for byte, and the cosine
//   recomputed from the stored vector meets the threshold. Anything else is a
//   miss, counted in swapgate_cache_semantic_rejects_total.
// Index writes run on one writer thread, never on an I/O thread.
#pragma once
#include "cache/completion_record.hpp"
#include "cache/semantic_index.hpp"
#include "proxy/net/net.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace swapgate::config {
struct model;
}

namespace swapgate::proxy {

struct proxy_state;
struct cache_context;
class response_cache;
class metrics;

class semantic_tier {
public:
    semantic_tier(net::asio::io_context& ioc, proxy_state& st);
    ~semantic_tier();

    // Redis: loads the stored entries and follows the change log. No-op otherwise.
    void start();
    void shutdown();

    struct hit {
        cache::completion_record record;
        float similarity = 0;
    };
    // After an exact miss (chat only). Embeds the final user message (leaving
    // the partition and vector in `cc` so the answer can be stored), then
    // searches and verifies. `lookup` false: embed only (a refresh stores fresh).
    net::awaitable<std::optional<hit>> find(const config::model& model, std::string ns, const nlohmann::json& body,
                                            cache_context& cc, bool lookup);
    // The answer for `cc` was stored under cc.key: add the semantic entry.
    void store(const cache_context& cc);

    // Test hook (cache.test_hooks): puts an index entry for `partition_hex`
    // pointing at `entry_key` with `vector`, in this process's index only.
    bool inject(const std::string& partition_hex, const std::string& entry_key, std::vector<float> vector);
    // Embeds `text` with `model`'s embedding model (test hooks, tools).
    net::awaitable<std::optional<std::vector<float>>> embed(const config::model& model, std::string text);

    cache::semantic_index& index() { return *index_; }

private:
    net::asio::io_context& ioc_;
    proxy_state& st_;
    std::unique_ptr<cache::semantic_index> index_;
    std::unique_ptr<net::asio::thread_pool> writer_;  // one thread: index inserts and removes
    std::string log_key_;                            // the Redis Stream
    std::atomic<bool> stopped_{false};

    void index_insert(std::string partition_hex, std::string entry_key, std::vector<float> v,
                      std::chrono::milliseconds ttl);
    void index_remove(std::string partition_hex, std::string entry_key);
    net::awaitable<void> follow();
    net::awaitable<std::string> load_existing();
};

// The store value of a semantic entry and its parts.
std::string encode_semantic_entry(const std::string& partition_hex, long long expires_unix_ms, const std::vector<float>& v);
bool decode_semantic_entry(std::string_view bytes, std::string& partition_hex, long long& expires_unix_ms,
                           std::vector<float>& v);

}  // namespace swapgate::proxy
