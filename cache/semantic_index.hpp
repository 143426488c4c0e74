// The in-process semantic index: per partition (semantic.hpp's partition key) a
// vector_index from the embedded final user message to the exact key of the stored
// completion. A semantic hit is then served by fetching that exact key from the
// store (a missing record means the entry is stale: remove() it and go upstream).
//
// A partition starts as an exact search (hnsw_index in exact mode) and becomes an
// HNSW graph once it holds `hnsw_threshold` entries; a graph is rebuilt when the
// share of deleted nodes passes `rebuild_deleted_share` (hnswlib only marks removals).
// Bounded: entries per partition (oldest inserted go first), partitions and estimated
// bytes (least recently used partitions go first); entries expire at their record's
// expiry. Time is passed in.
//
// Thread-safe. Lookups share a reader lock and run in parallel. Writes (insert,
// remove) are serialised and hold the exclusive lock only while they change a
// partition; a conversion or rebuild runs beside lookups and blocks other writers
// only. Writes are slow on large partitions (bench/semantic, dimension 768, 100k
// entries: an HNSW insert ~2 ms, a conversion or rebuild a full build, minutes):
// call insert/remove from one writer thread, never from I/O threads. A factory's
// indexes must allow concurrent nearest() calls.
#pragma once
#include "cache/hash.hpp"
#include "cache/hnsw_index.hpp"
#include "cache/vector_index.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace swapgate::cache {

struct semantic_index_limits {
    std::size_t max_partitions = 10000;
    std::size_t max_entries_per_partition = 1000000;
    // Over all partitions, estimated (vectors, graph links, ids, bookkeeping). Past
    // it, least recently used partitions are dropped; a single partition above it
    // loses its oldest entries.
    std::size_t max_bytes = std::size_t{1} << 30;
    // Entries at which a partition switches from exact search to HNSW (bench/semantic:
    // at dimension 768 and ef_search 64 the graph answers faster from about here on).
    std::size_t hnsw_threshold = 4000;
    // A graph with this share of deleted nodes is rebuilt from its live entries
    // (back to exact search when fewer than hnsw_threshold / 2 are left).
    double rebuild_deleted_share = 0.3;
    hnsw_params hnsw;
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
        std::size_t graph_partitions = 0;  // partitions searched through an HNSW graph
        std::size_t bytes = 0;             // the estimate max_bytes bounds
        std::uint64_t conversions = 0;     // exact -> graph
        std::uint64_t rebuilds = 0;        // graph rebuilt after deletions
        std::uint64_t evicted_partitions = 0;
    };

    // `factory` builds the index of a new partition; default: hnsw_index in exact
    // mode with limits.hnsw. Conversion and rebuild apply to hnsw_index partitions only.
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
        hnsw_index* hnsw = nullptr;  // `index` when it is an hnsw_index
        std::unordered_map<std::string, entry_meta> meta;
        std::deque<std::pair<std::string, std::uint64_t>> order;  // insertion order, may hold stale items
        std::atomic<std::uint64_t> last_used{0};                  // tick_ of the last insert or lookup
        std::size_t meta_bytes = 0;
        std::size_t bytes = 0;  // index + meta estimate, as counted in bytes_
    };
    using partition_map = std::unordered_map<key128, std::unique_ptr<partition>, key128_hash>;

    // All below: the caller holds mu_ exclusively.
    void erase_entry(partition& p, const std::string& id);
    bool evict_oldest(partition& p);
    void drop_partition(partition_map::iterator it);
    void drop_least_recent(const partition* keep);
    void account(partition& p);
    void enforce_byte_cap(partition& p);
    // Caller holds write_mu_ only: converts or rebuilds `p` if due.
    void maintain(partition& p);

    // mu_ through these only: a writer waiting for mu_ holds gate_, so new readers
    // queue behind it (glibc's rwlock prefers readers: lookups would starve writes).
    std::shared_lock<std::shared_mutex> read_lock() const;
    std::unique_lock<std::shared_mutex> exclusive_lock();

    std::mutex write_mu_;           // serialises writers, held across a rebuild
    mutable std::mutex gate_;
    mutable std::shared_mutex mu_;  // shared: lookups, rebuilds; exclusive: changes
    limits limits_;
    index_factory factory_;
    partition_map parts_;
    std::vector<std::unique_ptr<partition>> dropped_;  // writers only; freed outside mu_
    std::atomic<std::uint64_t> tick_{0};
    std::uint64_t seq_ = 0;
    std::size_t entries_ = 0;
    std::size_t bytes_ = 0;
    std::atomic<std::uint64_t> lookups_{0}, hits_{0};
    std::uint64_t conversions_ = 0, rebuilds_ = 0, evicted_partitions_ = 0;
};

}  // namespace swapgate::cache
