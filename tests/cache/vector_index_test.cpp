#include "cache/semantic_index.hpp"
#include "cache/vector_index.hpp"
#include "cache/vector_math.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>

namespace swapgate::cache {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using tp = semantic_index::time_point;
const tp t0 = tp{} + 1000s;

std::vector<float> unit(std::vector<float> v) {
    EXPECT_TRUE(l2_normalize(v));
    return v;
}

TEST(vector_math, normalize_dot_cosine) {
    std::vector<float> v = {3, 4};
    ASSERT_TRUE(l2_normalize(v));
    EXPECT_NEAR(v[0], 0.6f, 1e-6);
    EXPECT_NEAR(v[1], 0.8f, 1e-6);
    EXPECT_NEAR(dot(v, v), 1.0f, 1e-6);
    std::vector<float> zero = {0, 0};
    EXPECT_FALSE(l2_normalize(zero));
    std::vector<float> nan = {NAN, 1};
    EXPECT_FALSE(l2_normalize(nan));
    std::vector<float> a = {1, 0}, b = {0, 2}, c = {2, 0}, d = {-1, 0};
    EXPECT_NEAR(cosine(a, b), 0.0f, 1e-6);
    EXPECT_NEAR(cosine(a, c), 1.0f, 1e-6);
    EXPECT_NEAR(cosine(a, d), -1.0f, 1e-6);
    EXPECT_EQ(cosine(a, std::vector<float>{1, 0, 0}), 0.0f);  // size mismatch
    EXPECT_EQ(cosine(a, zero), 0.0f);
}

TEST(vector_math, parse_embedding_float_array_and_base64) {
    auto v = parse_embedding(json::parse("[0.5, -1, 2e-1]"));
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, (std::vector<float>{0.5f, -1.0f, 0.2f}));
    // base64 of little-endian float32 {1.0, -2.0}: 00 00 80 3f 00 00 00 c0
    auto b = parse_embedding(json("AACAPwAAAMA="));
    ASSERT_TRUE(b);
    EXPECT_EQ(*b, (std::vector<float>{1.0f, -2.0f}));
    EXPECT_FALSE(parse_embedding(json("AACAPwA")));      // not a whole float
    EXPECT_FALSE(parse_embedding(json("!!!!")));
    EXPECT_FALSE(parse_embedding(json::array()));
    EXPECT_FALSE(parse_embedding(json::parse("[1, \"x\"]")));
    EXPECT_FALSE(parse_embedding(json(3)));
}

TEST(exact_index, top1_by_dot_product) {
    exact_index idx(3);
    EXPECT_FALSE(idx.nearest(unit({1, 0, 0})));
    EXPECT_TRUE(idx.upsert("x", unit({1, 0, 0})));
    EXPECT_TRUE(idx.upsert("y", unit({0, 1, 0})));
    EXPECT_TRUE(idx.upsert("xy", unit({1, 1, 0})));
    EXPECT_FALSE(idx.upsert("bad", std::vector<float>{1, 0}));
    EXPECT_EQ(idx.size(), 3u);
    auto h = idx.nearest(unit({0.9f, 0.1f, 0}));
    ASSERT_TRUE(h);
    EXPECT_EQ(h->id, "x");
    EXPECT_EQ(idx.nearest(unit({0.5f, 0.6f, 0}))->id, "xy");
    EXPECT_NEAR(idx.nearest(unit({0, 1, 0}))->score, 1.0f, 1e-6);
    // Replace and remove keep the rows and ids aligned.
    EXPECT_TRUE(idx.upsert("x", unit({0, 0, 1})));
    EXPECT_EQ(idx.size(), 3u);
    EXPECT_EQ(idx.nearest(unit({0, 0, 1}))->id, "x");
    EXPECT_TRUE(idx.remove("y"));
    EXPECT_FALSE(idx.remove("y"));
    EXPECT_EQ(idx.nearest(unit({0, 1, 0}))->id, "xy");
    EXPECT_EQ(idx.nearest(unit({0, 0, 1}))->id, "x");
    EXPECT_TRUE(idx.remove("x"));
    EXPECT_TRUE(idx.remove("xy"));
    EXPECT_EQ(idx.size(), 0u);
    EXPECT_FALSE(idx.nearest(unit({1, 0, 0})));
}

TEST(semantic_index, threshold_and_partition_isolation) {
    semantic_index si;
    key128 pa{1, 2}, pb{3, 4};
    ASSERT_TRUE(si.insert(pa, "entry-a", {1, 0, 0}, t0 + 1h, t0));
    // Same partition, close vector: a hit, with its similarity.
    auto m = si.lookup(pa, std::vector<float>{0.99f, 0.05f, 0}, 0.95f, t0);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->entry_key, "entry-a");
    EXPECT_GT(m->similarity, 0.95f);
    // Below the threshold: no hit.
    EXPECT_FALSE(si.lookup(pa, std::vector<float>{0.7f, 0.7f, 0}, 0.95f, t0));
    // Another partition (another tenant, system prompt, ...) never sees it.
    EXPECT_FALSE(si.lookup(pb, std::vector<float>{1, 0, 0}, 0.0f, t0));
    // Dimension mismatch within a partition is refused.
    EXPECT_FALSE(si.insert(pa, "entry-b", {1, 0}, t0 + 1h, t0));
    EXPECT_FALSE(si.lookup(pa, std::vector<float>{1, 0}, 0.0f, t0));
    EXPECT_FALSE(si.insert(pa, "zero", {0, 0, 0}, t0 + 1h, t0));
}

TEST(semantic_index, expired_entries_are_skipped) {
    semantic_index si;
    key128 p{1, 1};
    si.insert(p, "old", {1, 0}, t0 + 10s, t0);
    si.insert(p, "new", {0.9f, 0.3f}, t0 + 1h, t0);
    EXPECT_EQ(si.lookup(p, std::vector<float>{1, 0}, 0.5f, t0)->entry_key, "old");
    auto m = si.lookup(p, std::vector<float>{1, 0}, 0.5f, t0 + 11s);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->entry_key, "new");
    EXPECT_EQ(si.snapshot().entries, 1u);
    EXPECT_TRUE(si.remove(p, "new"));
    EXPECT_FALSE(si.lookup(p, std::vector<float>{1, 0}, 0.0f, t0 + 11s));
}

TEST(semantic_index, bounded_per_partition_and_in_partitions) {
    semantic_index si(semantic_index_limits{2, 3});
    key128 p{9, 9};
    si.insert(p, "e0", {1, 0, 0}, t0 + 1h, t0);
    si.insert(p, "e1", {0, 1, 0}, t0 + 1h, t0);
    si.insert(p, "e2", {0, 0, 1}, t0 + 1h, t0);
    si.insert(p, "e0", {1, 0, 0}, t0 + 1h, t0);  // re-insert: now the newest
    si.insert(p, "e3", {1, 1, 0}, t0 + 1h, t0);  // evicts the oldest: e1
    EXPECT_EQ(si.snapshot().entries, 3u);
    EXPECT_NE(si.lookup(p, std::vector<float>{0, 1, 0}, 0.99f, t0).value_or(semantic_index::match{}).entry_key, "e1");
    EXPECT_EQ(si.lookup(p, std::vector<float>{1, 0, 0}, 0.99f, t0)->entry_key, "e0");

    si.insert(key128{1, 0}, "a", {1, 0}, t0 + 1h, t0);
    si.lookup(p, std::vector<float>{1, 0, 0}, 0.5f, t0);  // p is now the most recently used partition
    si.insert(key128{2, 0}, "b", {1, 0}, t0 + 1h, t0);    // evicts partition {1,0}
    EXPECT_EQ(si.snapshot().partitions, 2u);
    EXPECT_FALSE(si.lookup(key128{1, 0}, std::vector<float>{1, 0}, 0.0f, t0));
    EXPECT_TRUE(si.lookup(p, std::vector<float>{1, 0, 0}, 0.5f, t0));
    EXPECT_TRUE(si.lookup(key128{2, 0}, std::vector<float>{1, 0}, 0.5f, t0));
}

// The index interface is all semantic_index needs: a fake implementation plugs in.
class counting_index final : public vector_index {
public:
    explicit counting_index(std::size_t d, int* searches) : inner_(d), searches_(searches) {}
    std::size_t dimensions() const override { return inner_.dimensions(); }
    std::size_t size() const override { return inner_.size(); }
    bool upsert(std::string_view id, std::span<const float> v) override { return inner_.upsert(id, v); }
    bool remove(std::string_view id) override { return inner_.remove(id); }
    std::optional<index_hit> nearest(std::span<const float> q) const override {
        ++*searches_;
        return inner_.nearest(q);
    }

private:
    exact_index inner_;
    int* searches_;
};

TEST(semantic_index, index_factory_is_pluggable) {
    int searches = 0;
    semantic_index si({}, [&](std::size_t d) { return std::make_unique<counting_index>(d, &searches); });
    si.insert(key128{1, 1}, "a", {1, 0}, t0 + 1h, t0);
    EXPECT_TRUE(si.lookup(key128{1, 1}, std::vector<float>{1, 0}, 0.9f, t0));
    EXPECT_EQ(searches, 1);
}

}  // namespace
}  // namespace swapgate::cache
