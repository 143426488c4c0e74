#include "bench/load/report.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace swapgate::bench {
namespace {

target_summary make(const std::string& url, double p50, double rps) {
    target_summary t;
    t.url = url;
    t.requests = 10;
    t.ok = 9;
    t.errors["502"] = 1;
    t.cache["hit"] = 4;
    t.duration_s = 2;
    t.throughput_rps = rps;
    t.latency.count = 9;
    t.latency.p50 = p50;
    t.latency.mean = p50;
    return t;
}

TEST(Report, RatiosAreBOverA) {
    auto r = compare_ratios(make("a", 10, 100), make("b", 15, 50));
    auto get = [&](const std::string& k) {
        for (auto& [name, v] : r)
            if (name == k) return v;
        ADD_FAILURE() << k;
        return std::optional<double>{};
    };
    EXPECT_DOUBLE_EQ(*get("latency_p50"), 1.5);
    EXPECT_DOUBLE_EQ(*get("throughput_rps"), 0.5);
    EXPECT_FALSE(get("latency_p99"));  // missing on both sides
}

TEST(Report, JsonSchema) {
    options o;
    target_url u;
    parse_target_url("http://x:1/v1", u);
    o.targets = {u, u};
    nlohmann::json j;
    report_json(o, {make("a", 10, 100), make("b", 20, 100)}, j);
    EXPECT_EQ(j["tool"], "swapgate-bench");
    EXPECT_EQ(j["version"], 1);
    ASSERT_EQ(j["targets"].size(), 2u);
    const auto& t = j["targets"][0];
    EXPECT_EQ(t["errors"]["502"], 1);
    EXPECT_EQ(t["cache"]["hit"], 4);
    EXPECT_EQ(t["latency_ms"]["p50"], 10.0);
    EXPECT_TRUE(t["latency_ms"]["p99"].is_null());
    for (const char* k : {"url", "requests", "ok", "duration_s", "throughput_rps", "output_tokens_per_s", "ttft_ms", "itl_ms"})
        EXPECT_TRUE(t.contains(k)) << k;
    EXPECT_EQ(j["ratios"]["latency_p50"], 2.0);

    o.targets = {u};
    report_json(o, {make("a", 10, 100)}, j);
    EXPECT_FALSE(j.contains("ratios"));
}

TEST(Report, TableHasRowsForErrorsAndCache) {
    auto table = format_table({make("http://a", 10, 100)});
    EXPECT_NE(table.find("errors 502"), std::string::npos);
    EXPECT_NE(table.find("cache hit"), std::string::npos);
    EXPECT_NE(table.find("latency ms p50"), std::string::npos);
    EXPECT_EQ(table.find("B/A"), std::string::npos);
    auto cmp = format_table({make("http://a", 10, 100), make("http://b", 20, 100)});
    EXPECT_NE(cmp.find("B/A"), std::string::npos);
    EXPECT_NE(cmp.find("2.000"), std::string::npos);
}

TEST(Report, ProgressLine) {
    EXPECT_EQ(format_progress(12.4, 3400, 283.14, 2), "elapsed 12s  done 3400  rps 283.1  errors 2");
}

}  // namespace
}  // namespace swapgate::bench
