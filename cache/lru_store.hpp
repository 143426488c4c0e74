// In-process cache store: string keys to immutable string values, bounded in bytes,
// each entry with its own expiry time, least-recently-used eviction. Time is passed
// in (no clock inside), so tests drive expiry. Thread-safe: one mutex, held only
// for map and list updates; values are shared, never copied under the lock.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace swapgate::cache {

class lru_store {
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;
    using value_ptr = std::shared_ptr<const std::string>;

    // Bytes charged per entry on top of key and value size (list node, map slot).
    static constexpr std::size_t entry_overhead = 96;

    struct stats {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;       // absent or expired
        std::uint64_t expirations = 0;  // entries dropped because their time was up
        std::uint64_t evictions = 0;    // entries dropped to make room
        std::uint64_t rejected = 0;     // puts larger than the whole store
        std::size_t entries = 0;
        std::size_t bytes = 0;
        std::size_t max_bytes = 0;
    };

    explicit lru_store(std::size_t max_bytes);

    // The value, or null when absent or expired at `now` (an expired entry is dropped).
    value_ptr get(std::string_view key, time_point now);

    // Inserts or replaces; evicts least recently used entries (expired ones first)
    // until it fits. False when the entry alone exceeds max_bytes or is already expired.
    bool put(std::string key, std::string value, time_point expires_at, time_point now);

    bool erase(std::string_view key);
    // Drops every entry expired at `now`; returns how many.
    std::size_t purge_expired(time_point now);
    void clear();

    stats snapshot() const;

private:
    struct entry {
        std::string key;
        value_ptr value;
        time_point expires_at;
        std::size_t bytes;
    };
    using list_t = std::list<entry>;  // front = most recently used

    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    void drop(list_t::iterator it);  // caller holds mu_

    mutable std::mutex mu_;
    std::size_t max_bytes_;
    std::size_t bytes_ = 0;
    list_t lru_;
    std::unordered_map<std::string, list_t::iterator, string_hash, std::equal_to<>> index_;
    stats stats_;
};

}  // namespace swapgate::cache
