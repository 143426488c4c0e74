#include "bench/load/stats.hpp"

#include <gtest/gtest.h>

#include <numeric>

namespace swapgate::bench {
namespace {

TEST(Percentile, EmptySampleHasNoValue) {
    std::vector<double> empty;
    EXPECT_FALSE(percentile(empty, 50).has_value());
    auto s = summarize(empty);
    EXPECT_EQ(s.count, 0u);
    EXPECT_FALSE(s.p50 || s.p99 || s.max || s.mean);
}

TEST(Percentile, SingleElementIsEveryPercentile) {
    std::vector<double> one{7.5};
    for (double p : {0.0, 1.0, 50.0, 99.9, 100.0}) EXPECT_EQ(percentile(one, p), 7.5) << p;
}

TEST(Percentile, NearestRankOnSmallSample) {
    // n = 5: rank = ceil(p/100 * 5).
    std::vector<double> x{10, 20, 30, 40, 50};
    EXPECT_EQ(percentile(x, 0), 10);    // clamped to rank 1
    EXPECT_EQ(percentile(x, 20), 10);   // rank 1
    EXPECT_EQ(percentile(x, 21), 20);   // rank 2
    EXPECT_EQ(percentile(x, 50), 30);   // rank 3
    EXPECT_EQ(percentile(x, 90), 50);   // rank 5
    EXPECT_EQ(percentile(x, 100), 50);
}

TEST(Percentile, TiesReturnTheTiedValue) {
    std::vector<double> x{1, 2, 2, 2, 2, 2, 2, 2, 2, 9};
    EXPECT_EQ(percentile(x, 10), 1);
    EXPECT_EQ(percentile(x, 11), 2);
    EXPECT_EQ(percentile(x, 90), 2);
    EXPECT_EQ(percentile(x, 91), 9);
}

TEST(Percentile, P999OnThousandItems) {
    std::vector<double> x(1000);
    std::iota(x.begin(), x.end(), 1.0);  // 1..1000
    EXPECT_EQ(percentile(x, 99.9), 999);  // rank exactly 999, not 1000 from float rounding
    EXPECT_EQ(percentile(x, 99), 990);
    EXPECT_EQ(percentile(x, 50), 500);
    EXPECT_EQ(percentile(x, 100), 1000);
}

TEST(Summarize, SortsAndComputesMeanAndMax) {
    std::vector<double> x{5, 1, 4, 2, 3};
    auto s = summarize(x);
    EXPECT_EQ(s.count, 5u);
    EXPECT_EQ(s.p50, 3);
    EXPECT_EQ(s.max, 5);
    EXPECT_DOUBLE_EQ(*s.mean, 3.0);
    EXPECT_TRUE(std::is_sorted(x.begin(), x.end()));
}

TEST(Throughput, EventsPerSecond) {
    EXPECT_DOUBLE_EQ(throughput(100, 4), 25);
    EXPECT_DOUBLE_EQ(throughput(3, 0.5), 6);
    EXPECT_EQ(throughput(10, 0), 0);
    EXPECT_EQ(throughput(10, -1), 0);
}

TEST(TargetStats, OnlyOkRequestsFeedLatency) {
    target_stats st;
    request_result ok;
    ok.http_status = 200;
    ok.latency_ms = 10;
    ok.ttft_ms = 4;
    ok.itl_ms = {1, 2};
    ok.output_tokens = 3;
    ok.cache = "hit";
    st.add(ok);

    request_result bad;
    bad.http_status = 502;
    bad.latency_ms = 1;
    st.add(bad);

    request_result stream_err = ok;
    stream_err.stream_error = true;
    st.add(stream_err);

    request_result timeout;
    timeout.transport = request_result::failure::timeout;
    st.add(timeout);

    EXPECT_EQ(st.requests, 4u);
    EXPECT_EQ(st.ok, 1u);
    EXPECT_EQ(st.output_tokens, 3u);
    EXPECT_EQ(st.errors.at("502"), 1u);
    EXPECT_EQ(st.errors.at("stream_error"), 1u);
    EXPECT_EQ(st.errors.at("timeout"), 1u);
    EXPECT_EQ(st.cache.at("hit"), 2u);
    EXPECT_EQ(st.latency_ms, std::vector<double>{10});
    EXPECT_EQ(st.itl_ms, (std::vector<double>{1, 2}));

    auto sum = summarize_target("u", st, 2.0);
    EXPECT_DOUBLE_EQ(sum.throughput_rps, 2.0);
    EXPECT_DOUBLE_EQ(sum.output_tokens_per_s, 1.5);
}

TEST(TargetStats, MergeAddsCountsAndSamples) {
    target_stats a, b;
    request_result r;
    r.http_status = 200;
    r.latency_ms = 1;
    a.add(r);
    r.latency_ms = 2;
    b.add(r);
    r.http_status = 429;
    b.add(r);
    a.merge(std::move(b));
    EXPECT_EQ(a.requests, 3u);
    EXPECT_EQ(a.ok, 2u);
    EXPECT_EQ(a.errors.at("429"), 1u);
    EXPECT_EQ(a.latency_ms.size(), 2u);
}

TEST(RequestResult, ErrorKeys) {
    request_result r;
    r.transport = request_result::failure::connect_error;
    EXPECT_EQ(r.error_key(), "connect_error");
    r.transport = request_result::failure::read_error;
    EXPECT_EQ(r.error_key(), "read_error");
    r.transport = request_result::failure::none;
    r.http_status = 0;
    EXPECT_FALSE(r.ok());
    r.http_status = 204;
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.error_key(), "");
}

}  // namespace
}  // namespace swapgate::bench
