#include "bench/load/workload.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

namespace swapgate::bench {
namespace {

constexpr int draws = 20000;

TEST(Workload, WeightedModelMixProportions) {
    workload_config cfg;
    cfg.models = {{"a", 1}, {"b", 3}, {"c", 6}};
    cfg.seed = 42;
    workload w(cfg);
    std::array<int, 3> counts{};
    for (int i = 0; i < draws; ++i) ++counts[w.choose(i).model];
    EXPECT_NEAR(counts[0] / double(draws), 0.1, 0.015);
    EXPECT_NEAR(counts[1] / double(draws), 0.3, 0.015);
    EXPECT_NEAR(counts[2] / double(draws), 0.6, 0.015);
}

TEST(Workload, SameSeedSameRequests) {
    workload_config cfg;
    cfg.seed = 7;
    cfg.prompt_words_min = 3;
    cfg.prompt_words_max = 30;
    workload a(cfg), b(cfg);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(a.make(i).body, b.make(i).body);
    cfg.seed = 8;
    workload c(cfg);
    EXPECT_NE(a.make(0).body, c.make(0).body);
}

TEST(Workload, RepeatShareProportionAndPoolReuse) {
    workload_config cfg;
    cfg.repeat_share = 0.25;
    cfg.repeat_pool = 4;
    cfg.seed = 3;
    workload w(cfg);
    int repeated = 0;
    std::set<std::string> repeated_bodies, unique_bodies;
    for (int i = 0; i < draws; ++i) {
        auto c = w.choose(i);
        if (c.repeated) {
            ++repeated;
            if (i < 2000) repeated_bodies.insert(w.make(i).body);
        } else if (i < 2000) {
            unique_bodies.insert(w.make(i).body);
        }
    }
    EXPECT_NEAR(repeated / double(draws), 0.25, 0.015);
    EXPECT_LE(repeated_bodies.size(), 4u);   // only the pool's prompts
    EXPECT_GE(repeated_bodies.size(), 2u);
    int unique_in_2000 = 0;
    for (int i = 0; i < 2000; ++i) unique_in_2000 += !w.choose(i).repeated;
    EXPECT_EQ(unique_bodies.size(), static_cast<std::size_t>(unique_in_2000));  // all distinct
}

TEST(Workload, StreamShareAndBodyShape) {
    workload_config cfg;
    cfg.stream_share = 0.5;
    cfg.include_usage = true;
    cfg.max_tokens = 50;
    cfg.models = {{"m", 1}};
    cfg.extra = R"({"temperature":0,"sim":{"tokens":20}})";
    cfg.prompt_words_min = cfg.prompt_words_max = 5;
    workload w(cfg);
    int streams = 0;
    for (int i = 0; i < draws; ++i) streams += w.choose(i).stream;
    EXPECT_NEAR(streams / double(draws), 0.5, 0.015);

    for (int i = 0; i < 20; ++i) {
        auto spec = w.make(i);
        auto j = nlohmann::json::parse(spec.body);
        EXPECT_EQ(j["model"], "m");
        EXPECT_EQ(j["max_tokens"], 50);
        EXPECT_EQ(j["temperature"], 0);
        EXPECT_EQ(j["sim"]["tokens"], 20);
        ASSERT_TRUE(j["messages"].is_array());
        EXPECT_EQ(j["messages"][0]["role"], "user");
        EXPECT_EQ(spec.stream, j.value("stream", false));
        EXPECT_EQ(spec.stream, j.contains("stream_options"));
    }
}

TEST(Workload, PromptWordRange) {
    workload_config cfg;
    cfg.prompt_words_min = 4;
    cfg.prompt_words_max = 9;
    workload w(cfg);
    std::set<unsigned> seen;
    for (int i = 0; i < 2000; ++i) seen.insert(w.choose(i).words);
    EXPECT_EQ(*seen.begin(), 4u);
    EXPECT_EQ(*seen.rbegin(), 9u);
    EXPECT_EQ(seen.size(), 6u);
}

TEST(Workload, EmbeddingsInputsAndNoStream) {
    workload_config cfg;
    cfg.ep = endpoint::embeddings;
    cfg.embed_inputs = 3;
    cfg.stream_share = 1;
    workload w(cfg);
    auto spec = w.make(0);
    EXPECT_FALSE(spec.stream);
    auto j = nlohmann::json::parse(spec.body);
    ASSERT_TRUE(j["input"].is_array());
    EXPECT_EQ(j["input"].size(), 3u);
    EXPECT_FALSE(j.contains("stream"));
}

TEST(Workload, CompletionsUsePrompt) {
    workload_config cfg;
    cfg.ep = endpoint::completions;
    workload w(cfg);
    auto j = nlohmann::json::parse(w.make(1).body);
    EXPECT_TRUE(j["prompt"].is_string());
    EXPECT_EQ(endpoint_path(endpoint::completions), "/completions");
}

TEST(PoissonArrivals, MeanGapIsInverseRate) {
    poisson_arrivals gen(250.0, 11);
    double sum = 0, sum_sq = 0;
    constexpr int n = 100000;
    for (int i = 0; i < n; ++i) {
        const double g = gen.next_gap_s();
        ASSERT_GE(g, 0);
        sum += g;
        sum_sq += g * g;
    }
    const double mean = sum / n;
    EXPECT_NEAR(mean, 1.0 / 250, 0.02 / 250);
    // Exponential: standard deviation equals the mean.
    const double sd = std::sqrt(sum_sq / n - mean * mean);
    EXPECT_NEAR(sd, 1.0 / 250, 0.04 / 250);
}

}  // namespace
}  // namespace swapgate::bench
