// Nearest-neighbour search for large semantic partitions: an HNSW graph (hnswlib
// 0.6.2, Debian's libhnswlib-dev) behind the vector_index interface, plus an exact
// mode (brute force over contiguous rows) for small partitions. semantic_index
// starts a partition in exact mode and swaps in rebuilt(mode::graph) when it passes
// a size threshold; rebuilt() also compacts a graph full of deleted nodes.
//
// hnswlib 0.6.2 has no slot reuse: a removed entry stays in the graph as a deleted
// node (still walked by searches, never returned) until rebuild. Writes must not run
// concurrently with anything; const members (nearest, rebuilt, memory_bytes) may run
// concurrently with each other. semantic_index provides that locking.
#pragma once
#include "cache/vector_index.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace swapgate::cache {

// Graph parameters. Defaults: bench/semantic at dimension 768, 100k vectors (see
// bench/semantic/README.md): recall@1 >= 0.99 on near-duplicate queries, p99 < 1 ms.
struct hnsw_params {
    std::size_t m = 16;                    // links per node and layer (2·m in the bottom layer)
    std::size_t ef_construction = 200;     // candidate list while inserting
    std::size_t ef_search = 64;            // candidate list while searching
    std::size_t initial_capacity = 1024;   // graph slots at start; doubled when full
    std::size_t seed = 100;                // node levels: the same inserts give the same graph
};

class hnsw_index final : public vector_index {
public:
    enum class mode {
        exact,  // brute force over contiguous rows, O(n·d) per query
        graph,  // HNSW
    };

    // Graph mode allocates initial_capacity slots here and throws (std::bad_alloc,
    // std::runtime_error) only if that fails; exact mode allocates nothing.
    explicit hnsw_index(std::size_t dimensions, hnsw_params params = {}, mode m = mode::graph);
    ~hnsw_index() override;
    hnsw_index(const hnsw_index&) = delete;
    hnsw_index& operator=(const hnsw_index&) = delete;

    std::size_t dimensions() const override { return dims_; }
    std::size_t size() const override { return slot_of_.size(); }
    // Replacing an id in graph mode adds a new node and marks the old one deleted.
    // False on a wrong length or when the graph cannot grow (allocation failure).
    bool upsert(std::string_view id, std::span<const float> unit_vector) override;
    bool remove(std::string_view id) override;
    // Graph mode: approximate (ef_search). The score is the exact dot product with
    // the stored vector of the returned entry.
    std::optional<index_hit> nearest(std::span<const float> unit_query) const override;

    mode current_mode() const { return mode_; }
    const hnsw_params& params() const { return params_; }
    // A write: not while nearest() runs. Larger ef = better recall, slower search.
    void set_ef_search(std::size_t ef);
    // Graph nodes marked deleted and their share of all nodes (0 in exact mode).
    std::size_t deleted() const;
    double deleted_share() const;
    // Slots allocated: graph nodes (deleted ones included) that fit before a resize.
    std::size_t capacity() const;
    // Estimate of the resident bytes: vectors and ids in use, graph links, hnswlib's
    // per-slot arrays, its fixed 64k update locks (~2.6 MB per graph) and one visited
    // list (one more per concurrent search). Deleted nodes count until a rebuild.
    std::size_t memory_bytes() const;
    // The part of memory_bytes() that deleted nodes hold (a rebuild frees it).
    std::size_t deleted_bytes() const;
    // A new index in mode `m` holding this index's live entries (deleted nodes gone,
    // capacity = live entries + 25%). Const and slow (a full build): run it beside
    // readers, then swap it in. nullptr when memory runs out.
    std::unique_ptr<hnsw_index> rebuilt(mode m) const;
    // rebuilt(current_mode()) in place. False (and unchanged) on failure.
    bool rebuild();

private:
    struct graph;  // hnswlib's parts; only hnsw_index.cpp includes hnswlib

    std::span<const float> vector_of(std::size_t slot) const;  // live slot only
    bool graph_add(std::span<const float> v, std::size_t label);

    std::size_t dims_;
    hnsw_params params_;
    mode mode_;
    // id -> row (exact mode) or graph label (graph mode). Labels are never reused.
    std::unordered_map<std::string, std::size_t> slot_of_;
    // row/label -> id (points at slot_of_'s key, stable across rehashing); nullptr
    // = deleted label.
    std::vector<const std::string*> ids_;
    std::vector<float> rows_;        // exact mode: size() · dims_ floats, row i is ids_[i]
    std::unique_ptr<graph> graph_;   // graph mode
    std::size_t id_heap_bytes_ = 0;  // ids longer than the small-string buffer
};

}  // namespace swapgate::cache
