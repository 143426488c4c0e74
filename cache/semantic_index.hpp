// The in-process semantic index: per partition (semantic.hpp's partition key) a
// vector_index from the embedded final user message to the exact key of the stored
// completion. A semantic hit is then served by fetching that exact key from the
// store (a missing record means the entry is stale: remove() it and go upstream).
// Bounded: entries per partition (oldest inserted go first) and partitions (least
// recently used go first); entries expire at their record's expiry. Time is passed
// in. Thread-safe (one mutex; a lookup is O(entries·dims) under it for exact_index).
#pragma once
#include "cache/hash.hpp"
#include "cache/vector_index.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace swapgate::cache {

struct semantic_index_limits {
    std::size_t max_partitions = 10000;
    std::size_t max_entries_per_partition = 1000;
};

class semantic_index {
public:
    using time_point = std::chrono::steady_clock::time_point;
    using index_factory = std::function<std::unique_ptr<vector_index>(std::size_t dimensions)>;

    using limits = semantic_index_limits;

    struct match {
        std::string entry_key;  // exact key (hex) of the stored completion
        float similarity = 0;
    };

    struct stats {
        std::size_t partitions = 0;
        std::size_t entries = 0;
        std::uint64_t lookups = 0;
        std::uint64_t hits = 0;
    };

    // `factory` builds the index of a new partition; default: exact_index.
    explicit semantic_index(semantic_index_limits l = semantic_index_limits{}, index_factory factory = {});

    // Adds (or replaces) `entry_key` in `partition`. The vector is L2-normalised here.
    // False when it is empty, zero or not finite, or its length differs from the
    // partition's earlier vectors.
    bool insert(const key128& partition, const std::string& entry_key, std::vector<float> vector,
                time_point expires_at, time_point now);

    // The most similar live entry if its cosine similarity is >= threshold.
    std::optional<match> lookup(const key128& partition, std::span<const float> query, float threshold,
                                time_point now);

    bool remove(const key128& partition, const std::string& entry_key);

    stats snapshot() const;

private:
    struct entry_meta {
        time_point expires_at;
        std::uint64_t seq;
    };
    struct partition {
        std::unique_ptr<vector_index> index;
        std::unordered_map<std::string, entry_meta> meta;
        std::deque<std::pair<std::string, std::uint64_t>> order;  // insertion order, may hold stale items
        std::list<key128>::iterator lru_pos;
    };

    void erase_entry(partition& p, const std::string& id);  // caller holds mu_
    void drop_partition(const key128& k);                    // caller holds mu_

    mutable std::mutex mu_;
    limits limits_;
    index_factory factory_;
    std::unordered_map<key128, partition, key128_hash> parts_;
    std::list<key128> lru_;  // front = most recently used partition
    std::uint64_t seq_ = 0;
    std::size_t entries_ = 0;
    std::uint64_t lookups_ = 0, hits_ = 0;
};

}  // namespace swapgate::cache
