#include "cache/lru_store.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace swapgate::cache {
namespace {

using namespace std::chrono_literals;
using tp = lru_store::time_point;

const tp t0 = tp{} + 1000s;  // a fake clock: tests move time by hand

std::size_t cost(const std::string& k, const std::string& v) { return k.size() + v.size() + lru_store::entry_overhead; }

TEST(lru_store, get_put_erase) {
    lru_store s(10000);
    EXPECT_EQ(s.get("a", t0), nullptr);
    EXPECT_TRUE(s.put("a", "alpha", t0 + 60s, t0));
    auto v = s.get("a", t0);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(*v, "alpha");
    EXPECT_TRUE(s.put("a", "beta", t0 + 60s, t0));  // replace
    EXPECT_EQ(*s.get("a", t0), "beta");
    EXPECT_EQ(*v, "alpha");  // a value handed out stays valid
    EXPECT_TRUE(s.erase("a"));
    EXPECT_FALSE(s.erase("a"));
    EXPECT_EQ(s.get("a", t0), nullptr);
    auto st = s.snapshot();
    EXPECT_EQ(st.hits, 2u);
    EXPECT_EQ(st.misses, 2u);
    EXPECT_EQ(st.entries, 0u);
    EXPECT_EQ(st.bytes, 0u);
}

TEST(lru_store, ttl_expiry_with_fake_clock) {
    lru_store s(10000);
    s.put("short", "1", t0 + 10s, t0);
    s.put("long", "2", t0 + 100s, t0);
    EXPECT_NE(s.get("short", t0 + 9s), nullptr);
    EXPECT_EQ(s.get("short", t0 + 10s), nullptr);  // expiry time itself counts as expired
    EXPECT_NE(s.get("long", t0 + 10s), nullptr);
    EXPECT_EQ(s.get("long", t0 + 101s), nullptr);
    auto st = s.snapshot();
    EXPECT_EQ(st.expirations, 2u);
    EXPECT_EQ(st.entries, 0u);
    EXPECT_FALSE(s.put("dead", "x", t0, t0 + 1s));  // already expired
}

TEST(lru_store, purge_expired) {
    lru_store s(10000);
    for (int i = 0; i < 5; ++i) s.put("k" + std::to_string(i), "v", t0 + std::chrono::seconds(i + 1), t0);
    EXPECT_EQ(s.purge_expired(t0 + 3s), 3u);
    EXPECT_EQ(s.snapshot().entries, 2u);
}

TEST(lru_store, byte_bound_and_eviction_order) {
    const std::string v(100, 'x');
    const std::size_t one = cost("k0", v);
    lru_store s(one * 3);
    s.put("k0", v, t0 + 1h, t0);
    s.put("k1", v, t0 + 1h, t0);
    s.put("k2", v, t0 + 1h, t0);
    EXPECT_EQ(s.snapshot().bytes, one * 3);
    EXPECT_NE(s.get("k0", t0), nullptr);  // k0 is now the most recently used; k1 the least
    s.put("k3", v, t0 + 1h, t0);
    EXPECT_EQ(s.get("k1", t0), nullptr);  // evicted
    EXPECT_NE(s.get("k0", t0), nullptr);
    EXPECT_NE(s.get("k2", t0), nullptr);
    EXPECT_NE(s.get("k3", t0), nullptr);
    // The gets above left the order k3, k2, k0 (most recent first): k0 goes next.
    s.put("k4", v, t0 + 1h, t0);
    EXPECT_EQ(s.get("k0", t0), nullptr);
    auto st = s.snapshot();
    EXPECT_EQ(st.evictions, 2u);
    EXPECT_LE(st.bytes, st.max_bytes);
    EXPECT_EQ(st.entries, 3u);
}

TEST(lru_store, a_big_entry_evicts_several) {
    lru_store s(1000);
    for (int i = 0; i < 5; ++i) s.put("k" + std::to_string(i), std::string(50, 'x'), t0 + 1h, t0);
    EXPECT_EQ(s.snapshot().entries, 5u);
    EXPECT_TRUE(s.put("big", std::string(600, 'y'), t0 + 1h, t0));
    auto st = s.snapshot();
    EXPECT_LE(st.bytes, 1000u);
    EXPECT_NE(s.get("big", t0), nullptr);
    EXPECT_NE(s.get("k4", t0), nullptr);  // the most recent small ones survive
    EXPECT_EQ(s.get("k0", t0), nullptr);
}

TEST(lru_store, expired_entries_go_before_live_ones) {
    const std::string v(100, 'x');
    lru_store s(cost("k0", v) * 2);
    s.put("k0", v, t0 + 1h, t0);   // least recently used, but alive
    s.put("k1", v, t0 + 5s, t0);   // more recent, but expired by the next put
    s.put("k2", v, t0 + 1h, t0 + 10s);
    EXPECT_NE(s.get("k0", t0 + 10s), nullptr);
    EXPECT_EQ(s.snapshot().evictions, 0u);
}

TEST(lru_store, oversized_entry_is_rejected) {
    lru_store s(500);
    s.put("a", "small", t0 + 1h, t0);
    EXPECT_FALSE(s.put("b", std::string(1000, 'x'), t0 + 1h, t0));
    EXPECT_NE(s.get("a", t0), nullptr);  // nothing evicted for it
    EXPECT_EQ(s.snapshot().rejected, 1u);
}

TEST(lru_store, concurrent_use_keeps_the_bound) {
    lru_store s(20000);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&s, t] {
            for (int i = 0; i < 2000; ++i) {
                std::string k = "k" + std::to_string((i * 7 + t) % 300);
                if (i % 3 == 0) s.put(k, std::string(static_cast<std::size_t>(i % 200), 'v'), t0 + 1h, t0);
                else s.get(k, t0);
                if (i % 97 == 0) s.erase(k);
            }
        });
    for (auto& th : threads) th.join();
    auto st = s.snapshot();
    EXPECT_LE(st.bytes, 20000u);
    EXPECT_EQ(st.hits + st.misses, 4u * (2000 - 667));
}

}  // namespace
}  // namespace swapgate::cache
