// hnsw_index against exact_index on seeded random unit vectors, and the semantic
// index's use of it: conversion at the threshold, rebuild after deletions, byte cap.
#include "cache/hnsw_index.hpp"
#include "cache/semantic_index.hpp"
#include "cache/vector_index.hpp"
#include "cache/vector_math.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

namespace swapgate::cache {
namespace {

using namespace std::chrono_literals;
using tp = semantic_index::time_point;
const tp t0 = tp{} + 1000s;
using mode = hnsw_index::mode;

struct vectors {
    std::size_t dims;
    std::vector<float> data;
    std::span<const float> row(std::size_t i) const { return {data.data() + i * dims, dims}; }
    std::vector<float> copy(std::size_t i) const { return {data.begin() + i * dims, data.begin() + (i + 1) * dims}; }
};

vectors random_unit(std::size_t n, std::size_t dims, unsigned seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> g;
    vectors v{dims, std::vector<float>(n * dims)};
    for (auto& x : v.data) x = g(gen);
    for (std::size_t i = 0; i < n; ++i) l2_normalize(std::span<float>(v.data.data() + i * dims, dims));
    return v;
}

// `base` row i moved by noise of norm `eps` and renormalised (cosine ~ 1/sqrt(1+eps^2)).
std::vector<float> perturbed(const vectors& base, std::size_t i, float eps, std::mt19937& gen) {
    std::normal_distribution<float> g;
    std::vector<float> noise(base.dims), q = base.copy(i);
    for (auto& x : noise) x = g(gen);
    l2_normalize(noise);
    for (std::size_t k = 0; k < q.size(); ++k) q[k] += eps * noise[k];
    l2_normalize(q);
    return q;
}

std::string id(std::size_t i) { return "e" + std::to_string(i); }

TEST(hnsw_index, recall_at_1_against_exact) {
    const std::size_t n = 5000, dims = 64;
    auto base = random_unit(n, dims, 7);
    hnsw_index graph(dims);
    exact_index exact(dims);
    for (std::size_t i = 0; i < n; ++i) {
        ASSERT_TRUE(graph.upsert(id(i), base.row(i)));
        ASSERT_TRUE(exact.upsert(id(i), base.row(i)));
    }
    EXPECT_EQ(graph.size(), n);
    EXPECT_EQ(graph.current_mode(), mode::graph);
    std::mt19937 gen(11);
    auto fresh = random_unit(500, dims, 13);
    int near_ok = 0, fresh_ok = 0;
    for (std::size_t i = 0; i < 500; ++i) {  // default parameters, near-duplicate queries
        auto q = perturbed(base, (i * 9973) % n, 0.3f, gen);
        auto h = graph.nearest(q);
        auto e = exact.nearest(q);
        ASSERT_TRUE(h && e);
        if (h->id == e->id) {
            ++near_ok;
            EXPECT_NEAR(h->score, e->score, 1e-5);
        }
    }
    EXPECT_GE(near_ok, 495);
    // Fresh random queries are the hard case (no neighbour stands out): a wider
    // search is needed for the same recall.
    graph.set_ef_search(128);
    for (std::size_t i = 0; i < 500; ++i) {
        auto h = graph.nearest(fresh.row(i));
        auto e = exact.nearest(fresh.row(i));
        ASSERT_TRUE(h && e);
        fresh_ok += h->id == e->id;
    }
    EXPECT_GE(fresh_ok, 490);
}

TEST(hnsw_index, exact_mode_is_brute_force) {
    auto base = random_unit(300, 24, 3);
    hnsw_index flat(24, {}, mode::exact);
    exact_index exact(24);
    for (std::size_t i = 0; i < 300; ++i) {
        flat.upsert(id(i), base.row(i));
        exact.upsert(id(i), base.row(i));
    }
    for (std::size_t i = 0; i < 100; i += 3) {
        flat.remove(id(i));
        exact.remove(id(i));
    }
    auto queries = random_unit(200, 24, 4);
    for (std::size_t i = 0; i < 200; ++i) EXPECT_EQ(flat.nearest(queries.row(i))->id, exact.nearest(queries.row(i))->id);
    EXPECT_EQ(flat.deleted(), 0u);
    EXPECT_EQ(flat.deleted_share(), 0.0);
}

TEST(hnsw_index, edge_cases) {
    hnsw_index idx(4);
    std::vector<float> v = {1, 0, 0, 0};
    EXPECT_FALSE(idx.nearest(v));
    EXPECT_FALSE(idx.upsert("short", std::vector<float>{1, 0}));
    EXPECT_FALSE(idx.remove("missing"));
    ASSERT_TRUE(idx.upsert("a", v));
    EXPECT_FALSE(idx.nearest(std::vector<float>{1, 0}));
    EXPECT_NEAR(idx.nearest(v)->score, 1.0f, 1e-6);
    EXPECT_TRUE(idx.remove("a"));
    EXPECT_FALSE(idx.nearest(v));  // only a deleted node left
    EXPECT_EQ(idx.size(), 0u);
    EXPECT_EQ(idx.deleted(), 1u);
}

TEST(hnsw_index, upsert_replaces_an_id) {
    auto base = random_unit(400, 32, 5);
    hnsw_index idx(32);
    for (std::size_t i = 0; i < 300; ++i) idx.upsert(id(i), base.row(i));
    ASSERT_TRUE(idx.upsert(id(7), base.row(350)));  // id 7 moves to a new vector
    EXPECT_EQ(idx.size(), 300u);
    EXPECT_EQ(idx.deleted(), 1u);
    auto h = idx.nearest(base.row(350));
    ASSERT_TRUE(h);
    EXPECT_EQ(h->id, id(7));
    EXPECT_NEAR(h->score, 1.0f, 1e-5);
    auto old = idx.nearest(base.row(7));  // its old vector is gone: something else, not an exact match
    ASSERT_TRUE(old);
    EXPECT_LT(old->score, 0.99f);
}

TEST(hnsw_index, removed_ids_are_never_returned_and_capacity_grows) {
    const std::size_t n = 3000;
    auto base = random_unit(n, 32, 17);
    hnsw_params p;
    p.initial_capacity = 1024;
    hnsw_index idx(32, p);
    for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(idx.upsert(id(i), base.row(i)));
    EXPECT_EQ(idx.capacity(), 4096u);  // 1024 doubled twice
    for (std::size_t i = 0; i < n; i += 2) ASSERT_TRUE(idx.remove(id(i)));
    EXPECT_NEAR(idx.deleted_share(), 0.5, 1e-9);
    std::size_t found_self = 0;
    for (std::size_t i = 0; i < n; ++i) {
        auto h = idx.nearest(base.row(i));
        ASSERT_TRUE(h);
        std::size_t k = std::stoul(h->id.substr(1));
        EXPECT_EQ(k % 2, 1u) << "removed id returned: " << h->id;
        found_self += k == i;
    }
    EXPECT_GE(found_self, n / 2 - 5);  // the live ones find themselves
}

TEST(hnsw_index, rebuild_keeps_live_entries_and_drops_deleted_nodes) {
    const std::size_t n = 2000;
    auto base = random_unit(n, 32, 23);
    hnsw_index idx(32);
    for (std::size_t i = 0; i < n; ++i) idx.upsert(id(i), base.row(i));
    for (std::size_t i = 0; i < n; i += 5) idx.remove(id(i));       // 400 removed
    for (std::size_t i = 1; i < 200; i += 5) idx.upsert(id(i), base.row(i));  // replaced: same vector, new node
    const std::size_t live = n - n / 5;
    EXPECT_EQ(idx.size(), live);
    EXPECT_EQ(idx.deleted(), 440u);
    std::size_t before = idx.memory_bytes();
    ASSERT_TRUE(idx.rebuild());
    EXPECT_EQ(idx.size(), live);
    EXPECT_EQ(idx.deleted(), 0u);
    EXPECT_EQ(idx.current_mode(), mode::graph);
    EXPECT_LT(idx.memory_bytes(), before);
    for (std::size_t i = 0; i < n; ++i) {
        auto h = idx.nearest(base.row(i));
        ASSERT_TRUE(h);
        if (i % 5 == 0)
            EXPECT_NE(h->id, id(i));
        else
            EXPECT_EQ(h->id, id(i));
    }
    // Back to exact mode (what a shrunken partition gets), and to a graph again.
    auto flat = idx.rebuilt(mode::exact);
    ASSERT_TRUE(flat);
    EXPECT_EQ(flat->current_mode(), mode::exact);
    EXPECT_EQ(flat->size(), live);
    auto again = flat->rebuilt(mode::graph);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->nearest(base.row(1))->id, id(1));
}

semantic_index_limits small_threshold(std::size_t threshold) {
    semantic_index_limits l;
    l.hnsw_threshold = threshold;
    return l;
}

TEST(semantic_index_hnsw, converts_to_a_graph_at_the_threshold_keeping_all_entries) {
    const std::size_t n = 100;
    auto base = random_unit(n, 16, 29);
    semantic_index si(small_threshold(n));
    key128 p{5, 5};
    for (std::size_t i = 0; i + 1 < n; ++i) ASSERT_TRUE(si.insert(p, id(i), base.copy(i), t0 + 1h, t0));
    EXPECT_EQ(si.snapshot().graph_partitions, 0u);
    ASSERT_TRUE(si.insert(p, id(n - 1), base.copy(n - 1), t0 + 1h, t0));
    auto s = si.snapshot();
    EXPECT_EQ(s.graph_partitions, 1u);
    EXPECT_EQ(s.conversions, 1u);
    EXPECT_EQ(s.entries, n);
    for (std::size_t i = 0; i < n; ++i) {
        auto m = si.lookup(p, base.row(i), 0.999f, t0);
        ASSERT_TRUE(m) << i;
        EXPECT_EQ(m->entry_key, id(i));
    }
}

TEST(semantic_index_hnsw, rebuilds_past_the_deleted_share) {
    const std::size_t n = 100;
    auto base = random_unit(n, 16, 31);
    semantic_index si(small_threshold(50));
    key128 p{6, 6};
    for (std::size_t i = 0; i < n; ++i) si.insert(p, id(i), base.copy(i), t0 + 1h, t0);
    ASSERT_EQ(si.snapshot().graph_partitions, 1u);
    for (std::size_t i = 0; i < 30; ++i) si.remove(p, id(i));  // 30 of 100 nodes: not past 0.3
    EXPECT_EQ(si.snapshot().rebuilds, 0u);
    si.remove(p, id(30));
    auto s = si.snapshot();
    EXPECT_EQ(s.rebuilds, 1u);
    EXPECT_EQ(s.entries, n - 31);
    EXPECT_EQ(s.graph_partitions, 1u);
    for (std::size_t i = 0; i < n; ++i) {
        auto m = si.lookup(p, base.row(i), 0.999f, t0);
        EXPECT_EQ(m.has_value(), i > 30) << i;
        if (m) {
            EXPECT_EQ(m->entry_key, id(i));
        }
    }
    // Shrunk below half the threshold: the rebuild goes back to exact search.
    for (std::size_t i = 31; i < 80; ++i) si.remove(p, id(i));
    EXPECT_EQ(si.snapshot().graph_partitions, 0u);
    EXPECT_EQ(si.lookup(p, base.row(90), 0.999f, t0)->entry_key, id(90));
}

TEST(semantic_index_hnsw, byte_cap_evicts_the_least_recently_used_partition) {
    auto base = random_unit(60, 32, 37);
    auto fill = [&](semantic_index& si, key128 k, std::size_t from) {
        for (std::size_t i = from; i < from + 20; ++i) ASSERT_TRUE(si.insert(k, id(i), base.copy(i), t0 + 1h, t0));
    };
    std::size_t one;
    {
        semantic_index probe;
        fill(probe, key128{1, 0}, 0);
        one = probe.snapshot().bytes;
    }
    ASSERT_GT(one, 20u * 32 * sizeof(float));
    semantic_index_limits l;
    l.max_bytes = one * 5 / 2;  // room for two partitions of 20 entries
    semantic_index si(l);
    fill(si, key128{1, 0}, 0);
    fill(si, key128{2, 0}, 20);
    EXPECT_EQ(si.snapshot().partitions, 2u);
    EXPECT_TRUE(si.lookup(key128{1, 0}, base.row(0), 0.99f, t0));  // partition 1 is now the most recent
    fill(si, key128{3, 0}, 40);
    auto s = si.snapshot();
    EXPECT_EQ(s.partitions, 2u);
    EXPECT_EQ(s.evicted_partitions, 1u);
    EXPECT_LE(s.bytes, l.max_bytes);
    EXPECT_FALSE(si.lookup(key128{2, 0}, base.row(20), 0.0f, t0));
    EXPECT_TRUE(si.lookup(key128{1, 0}, base.row(0), 0.99f, t0));
    EXPECT_TRUE(si.lookup(key128{3, 0}, base.row(40), 0.99f, t0));
}

TEST(semantic_index_hnsw, a_partition_alone_above_the_cap_loses_its_oldest_entries) {
    auto base = random_unit(200, 32, 41);
    semantic_index_limits l;
    l.max_bytes = 30000;
    semantic_index si(l);
    key128 p{8, 8};
    for (std::size_t i = 0; i < 200; ++i) ASSERT_TRUE(si.insert(p, id(i), base.copy(i), t0 + 1h, t0));
    auto s = si.snapshot();
    EXPECT_LE(s.bytes, l.max_bytes);
    EXPECT_GT(s.entries, 10u);
    EXPECT_LT(s.entries, 200u);
    EXPECT_FALSE(si.lookup(p, base.row(0), 0.999f, t0));  // the oldest went first
    EXPECT_EQ(si.lookup(p, base.row(199), 0.999f, t0)->entry_key, id(199));
}

TEST(semantic_index_hnsw, a_graph_partition_above_the_cap_settles_instead_of_emptying) {
    // Removed graph nodes are freed only by a rebuild: the cap must not keep evicting.
    auto base = random_unit(1500, 32, 47);
    semantic_index_limits l = small_threshold(20);
    hnsw_index empty_graph(32);
    l.max_bytes = empty_graph.memory_bytes() + 150000;
    semantic_index si(l);
    key128 p{10, 10};
    for (std::size_t i = 0; i < 1500; ++i) ASSERT_TRUE(si.insert(p, id(i), base.copy(i), t0 + 1h, t0));
    auto s = si.snapshot();
    EXPECT_EQ(s.graph_partitions, 1u);
    EXPECT_GE(s.rebuilds, 1u);
    EXPECT_GT(s.entries, 100u);
    EXPECT_LT(s.entries, 1000u);
    EXPECT_EQ(si.lookup(p, base.row(1499), 0.999f, t0)->entry_key, id(1499));
}

TEST(semantic_index_hnsw, lookups_run_beside_a_writer) {
    const std::size_t n = 1500;
    auto base = random_unit(n, 16, 43);
    semantic_index si(small_threshold(300));  // conversion and rebuilds happen during the run
    key128 p{9, 9};
    for (std::size_t i = 0; i < 100; ++i) si.insert(p, id(i), base.copy(i), t0 + 1h, t0);
    std::atomic<bool> done{false};
    std::atomic<int> bad{0}, hits{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r)
        readers.emplace_back([&, r] {
            for (std::size_t i = r; !done.load(); i = (i + 7) % n) {
                auto m = si.lookup(p, base.row(i), 0.999f, t0);
                if (!m) continue;
                ++hits;
                if (m->entry_key != id(i)) ++bad;
            }
        });
    for (std::size_t i = 100; i < n; ++i) {
        si.insert(p, id(i), base.copy(i), t0 + 1h, t0);
        if (i % 2 == 0) si.remove(p, id(i - 50));
    }
    done = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(hits.load(), 0);
    auto s = si.snapshot();
    EXPECT_EQ(s.conversions, 1u);
    EXPECT_GE(s.rebuilds, 1u);
}

}  // namespace
}  // namespace swapgate::cache
