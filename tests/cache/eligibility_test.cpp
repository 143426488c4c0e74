#include "cache/eligibility.hpp"
#include "cache/request_key.hpp"
#include "cache/status_header.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace swapgate::cache {
namespace {

using nlohmann::json;

const json greedy = json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0})");
const json sampled = json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.7})");

cache_decision run(cache_mode mode, const json& body, cache_request_headers h = {},
                   std::string_view endpoint = endpoint_chat) {
    return decide(mode, endpoint, body, h);
}

TEST(eligibility, parse_cache_mode) {
    EXPECT_EQ(parse_cache_mode("deterministic"), cache_mode::deterministic);
    EXPECT_EQ(parse_cache_mode(" Always "), cache_mode::always);
    EXPECT_EQ(parse_cache_mode("OFF"), cache_mode::off);
    EXPECT_FALSE(parse_cache_mode("sometimes"));
}

TEST(eligibility, deterministic_mode_caches_greedy_or_seeded_requests) {
    auto d = run(cache_mode::deterministic, greedy);
    EXPECT_TRUE(d.lookup);
    EXPECT_TRUE(d.store);
    EXPECT_EQ(d.status, cache_status::miss);
    EXPECT_TRUE(d.reason.empty());

    json seeded = sampled;
    seeded["seed"] = 7;
    EXPECT_TRUE(run(cache_mode::deterministic, seeded).lookup);

    json zero_float = sampled;
    zero_float["temperature"] = 0.0;
    EXPECT_TRUE(run(cache_mode::deterministic, zero_float).store);
}

TEST(eligibility, deterministic_mode_skips_sampling_n_and_logprobs) {
    auto expect_skip = [](const json& body, const char* what) {
        auto d = run(cache_mode::deterministic, body);
        EXPECT_FALSE(d.lookup) << what;
        EXPECT_FALSE(d.store) << what;
        EXPECT_EQ(d.status, cache_status::bypass) << what;
        EXPECT_FALSE(d.reason.empty()) << what;
    };
    expect_skip(sampled, "temperature 0.7");
    json no_temp = greedy;
    no_temp.erase("temperature");
    expect_skip(no_temp, "no temperature (server default samples)");
    json n2 = greedy;
    n2["n"] = 2;
    expect_skip(n2, "n = 2");
    json lp = greedy;
    lp["logprobs"] = true;
    expect_skip(lp, "logprobs");
    json tlp = greedy;
    tlp["top_logprobs"] = 2;
    expect_skip(tlp, "top_logprobs");
    json best = greedy;
    best["best_of"] = 3;
    expect_skip(best, "best_of");
    json float_seed = sampled;
    float_seed["seed"] = "7";
    expect_skip(float_seed, "seed that is not an integer");

    // Explicit defaults are fine.
    json ok = greedy;
    ok["n"] = 1;
    ok["logprobs"] = false;
    ok["top_logprobs"] = 0;
    ok["seed"] = nullptr;
    EXPECT_TRUE(run(cache_mode::deterministic, ok).lookup);
}

TEST(eligibility, always_mode_caches_sampled_requests) {
    auto d = run(cache_mode::always, sampled);
    EXPECT_TRUE(d.lookup);
    EXPECT_TRUE(d.store);
}

TEST(eligibility, off_mode_never_caches) {
    auto d = run(cache_mode::off, greedy);
    EXPECT_FALSE(d.lookup);
    EXPECT_FALSE(d.store);
    EXPECT_EQ(d.status, cache_status::off);
    EXPECT_EQ(status_header_value(d.status), "off");
}

TEST(eligibility, cache_control_no_cache_skips_lookup_but_stores) {
    for (auto cc : {"no-cache", "No-Cache", "max-age=0", "private, no-cache=\"x\"", " public , no-cache "}) {
        auto d = run(cache_mode::deterministic, greedy, {cc, ""});
        EXPECT_FALSE(d.lookup) << cc;
        EXPECT_TRUE(d.store) << cc;
        EXPECT_EQ(d.status, cache_status::miss) << cc;
    }
}

TEST(eligibility, cache_control_no_store_skips_both) {
    for (auto cc : {"no-store", "NO-STORE", "no-cache, no-store"}) {
        auto d = run(cache_mode::always, greedy, {cc, ""});
        EXPECT_FALSE(d.lookup) << cc;
        EXPECT_FALSE(d.store) << cc;
        EXPECT_EQ(d.status, cache_status::bypass) << cc;
    }
    // Directives that are merely similar do nothing.
    auto d = run(cache_mode::always, greedy, {"no-storex, max-age=60", ""});
    EXPECT_TRUE(d.lookup);
    EXPECT_TRUE(d.store);
}

TEST(eligibility, x_swapgate_cache_header) {
    auto bypass = run(cache_mode::deterministic, greedy, {"", "bypass"});
    EXPECT_FALSE(bypass.lookup);
    EXPECT_FALSE(bypass.store);
    EXPECT_EQ(bypass.status, cache_status::bypass);

    auto refresh = run(cache_mode::deterministic, greedy, {"", "Refresh"});
    EXPECT_FALSE(refresh.lookup);
    EXPECT_TRUE(refresh.store);
    EXPECT_EQ(refresh.status, cache_status::miss);

    auto unknown = run(cache_mode::deterministic, greedy, {"", "please"});
    EXPECT_TRUE(unknown.lookup);

    // A refresh never makes an uncacheable request cacheable.
    auto off = run(cache_mode::off, greedy, {"", "refresh"});
    EXPECT_FALSE(off.store);
    auto sampled_refresh = run(cache_mode::deterministic, sampled, {"", "refresh"});
    EXPECT_FALSE(sampled_refresh.store);
}

TEST(eligibility, endpoints) {
    json emb = json::parse(R"({"model":"e","input":"hello"})");
    auto d = run(cache_mode::deterministic, emb, {}, endpoint_embeddings);
    EXPECT_TRUE(d.lookup);  // embeddings need no temperature
    EXPECT_TRUE(d.store);
    EXPECT_TRUE(run(cache_mode::deterministic, greedy, {}, endpoint_completions).lookup);
    auto models = run(cache_mode::always, greedy, {}, "/v1/models");
    EXPECT_FALSE(models.lookup);
    EXPECT_FALSE(models.store);
    EXPECT_FALSE(run(cache_mode::always, json::array(), {}).store);
}

TEST(status_header, values) {
    EXPECT_EQ(status_header_value(cache_status::hit), "hit");
    EXPECT_EQ(status_header_value(cache_status::miss), "miss");
    EXPECT_EQ(status_header_value(cache_status::bypass), "bypass");
    EXPECT_EQ(status_header_value(cache_status::off), "off");
    EXPECT_EQ(status_header_value(cache_status::semantic_hit, 0.97312), "semantic-hit; similarity=0.973");
    EXPECT_EQ(status_header_value(cache_status::semantic_hit, 1.0000001), "semantic-hit; similarity=1.000");
    EXPECT_EQ(status_header_value(cache_status::semantic_hit, 0.9), "semantic-hit; similarity=0.900");
}

}  // namespace
}  // namespace swapgate::cache
