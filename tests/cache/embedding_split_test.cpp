#include "cache/embedding_split.hpp"
#include "cache/request_key.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace swapgate::cache {
namespace {

using nlohmann::json;

// A tiny fake store keyed by hex, holding serialised entries like the real one.
struct fake_store {
    std::map<std::string, std::string> data;
    std::vector<std::optional<cached_embedding>> lookup(const embedding_plan& plan) {
        std::vector<std::optional<cached_embedding>> found;
        for (const auto& in : plan.inputs) {
            auto it = in.cacheable ? data.find(in.key.hex()) : data.end();
            found.push_back(it == data.end() ? std::nullopt : deserialize_embedding(it->second));
        }
        return found;
    }
    void store(const embedding_merge& m) {
        for (const auto& [k, v] : m.to_store) data[k.hex()] = serialize_embedding(v);
    }
};

// Plays the upstream: one vector per input, [position-in-upstream-request, length].
json fake_upstream(const json& request, std::uint64_t tokens) {
    json data = json::array();
    const json& input = request["input"];
    auto one = [&](const json& v, std::size_t i) {
        double len = v.is_string() ? static_cast<double>(v.get<std::string>().size()) : static_cast<double>(v.size());
        data.push_back({{"object", "embedding"}, {"embedding", {len, 0.5}}, {"index", i}});
    };
    if (input.is_string() || (input.is_array() && !input.empty() && input[0].is_number()))
        one(input, 0);
    else
        for (std::size_t i = 0; i < input.size(); ++i) one(input[i], i);
    std::reverse(data.begin(), data.end());  // servers need not answer in order; `index` counts
    return {{"object", "list"}, {"data", data}, {"model", "nomic-embed"},
            {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
}

struct run_result {
    json response;
    json upstream_request;  // null when nothing went upstream
};

run_result run(fake_store& store, const json& body, std::uint64_t upstream_tokens, std::string ns = "global") {
    auto plan = plan_embeddings("nomic-embed", ns, body);
    EXPECT_TRUE(plan.ok) << plan.reason;
    auto found = store.lookup(plan);
    auto split = split_embeddings(plan, found);
    run_result r;
    json upstream;
    if (!split.all_cached()) {
        r.upstream_request = build_upstream_request(body, plan, split);
        upstream = fake_upstream(r.upstream_request, upstream_tokens);
    }
    auto merged = merge_embeddings(plan, split, found, body, split.all_cached() ? nullptr : &upstream, "client-name");
    EXPECT_TRUE(merged.ok) << merged.error;
    store.store(merged);
    r.response = json::parse(merged.response);
    return r;
}

void expect_vectors_in_order(const json& response, const std::vector<double>& lengths) {
    ASSERT_EQ(response["data"].size(), lengths.size());
    for (std::size_t i = 0; i < lengths.size(); ++i) {
        EXPECT_EQ(response["data"][i]["index"], i);
        EXPECT_EQ(response["data"][i]["object"], "embedding");
        EXPECT_EQ(response["data"][i]["embedding"][0], lengths[i]) << i;
    }
}

TEST(embedding_split, partial_batch_goes_upstream_only_for_the_misses) {
    fake_store store;
    auto first = run(store, json::parse(R"({"model":"e","input":["aa","bbbb"]})"), 6);
    expect_vectors_in_order(first.response, {2, 4});
    EXPECT_EQ(first.response["usage"]["prompt_tokens"], 6);
    EXPECT_FALSE(first.response.contains("swapgate_cache"));
    EXPECT_EQ(store.data.size(), 2u);

    // "aa" and "bbbb" are cached now; only "cccccc" goes upstream.
    auto second = run(store, json::parse(R"({"model":"e","input":["cccccc","aa","bbbb"],"user":"x"})"), 5);
    EXPECT_EQ(second.upstream_request["input"], json::parse(R"(["cccccc"])"));
    EXPECT_EQ(second.upstream_request["model"], "e");    // other fields kept
    EXPECT_EQ(second.upstream_request["user"], "x");
    expect_vectors_in_order(second.response, {6, 2, 4});
    // Usage: 5 for the new input + what "aa" and "bbbb" cost when first embedded (2 + 4 of 6).
    EXPECT_EQ(second.response["usage"]["prompt_tokens"], 11);
    EXPECT_EQ(second.response["usage"]["total_tokens"], 11);
    EXPECT_EQ(second.response["model"], "nomic-embed");
    EXPECT_EQ(second.response["swapgate_cache"], json::parse(R"({"cached_inputs":2,"inputs":3})"));

    // Everything cached: no upstream call at all.
    auto third = run(store, json::parse(R"({"model":"e","input":["bbbb","cccccc"]})"), 999);
    EXPECT_TRUE(third.upstream_request.is_null());
    expect_vectors_in_order(third.response, {4, 6});
    EXPECT_EQ(third.response["usage"]["prompt_tokens"], 4 + 5);
    EXPECT_EQ(third.response["model"], "client-name");
}

TEST(embedding_split, single_string_input) {
    fake_store store;
    auto a = run(store, json::parse(R"({"model":"e","input":"hello"})"), 3);
    EXPECT_EQ(a.upstream_request["input"], "hello");  // sent in the client's form
    expect_vectors_in_order(a.response, {5});
    auto b = run(store, json::parse(R"({"model":"e","input":["hello"]})"), 0);
    EXPECT_TRUE(b.upstream_request.is_null());  // the same string, cached
    EXPECT_EQ(b.response["usage"]["prompt_tokens"], 3);
}

TEST(embedding_split, token_arrays_pass_through_uncached) {
    fake_store store;
    json body = json::parse(R"({"model":"e","input":[[1,2,3],"abcd",[4,5]]})");
    auto a = run(store, body, 9);
    EXPECT_EQ(a.upstream_request["input"], body["input"]);
    expect_vectors_in_order(a.response, {3, 4, 2});
    EXPECT_EQ(store.data.size(), 1u);  // only the string
    auto b = run(store, body, 5);
    EXPECT_EQ(b.upstream_request["input"], json::parse("[[1,2,3],[4,5]]"));
    expect_vectors_in_order(b.response, {3, 4, 2});
    // 5 upstream tokens (the arrays) + the 4 the string was apportioned the first time (9 - 5).
    EXPECT_EQ(b.response["usage"]["prompt_tokens"], 9);

    auto plan = plan_embeddings("m", "global", json::parse(R"({"input":[1,2,3]})"));
    ASSERT_TRUE(plan.ok);
    EXPECT_TRUE(plan.single);
    EXPECT_FALSE(plan.inputs[0].cacheable);
}

TEST(embedding_split, duplicates_go_upstream_once) {
    fake_store store;
    auto a = run(store, json::parse(R"({"model":"e","input":["xy","xy","zzz"]})"), 5);
    EXPECT_EQ(a.upstream_request["input"], json::parse(R"(["xy","zzz"])"));
    expect_vectors_in_order(a.response, {2, 2, 3});
    EXPECT_EQ(a.response["usage"]["prompt_tokens"], 2 + 2 + 3);
}

TEST(embedding_split, key_covers_model_namespace_format_and_dimensions) {
    auto key = [](const char* body, std::string_view model = "m", std::string_view ns = "global") {
        auto p = plan_embeddings(model, ns, json::parse(body));
        EXPECT_TRUE(p.ok);
        return p.inputs.at(0).key;
    };
    key128 k = key(R"({"input":"hi"})");
    EXPECT_EQ(key(R"({"input":["hi","other"],"user":"u","model":"alias"})"), k);
    EXPECT_EQ(key(R"({"input":"hi","encoding_format":"float"})"), k);  // the default, spelled out
    EXPECT_NE(key(R"({"input":"hi","encoding_format":"base64"})"), k);
    EXPECT_NE(key(R"({"input":"hi","dimensions":256})"), k);
    EXPECT_NE(key(R"({"input":"hi"})", "other-model"), k);
    EXPECT_NE(key(R"({"input":"hi"})", "m", "tenant"), k);
    EXPECT_NE(key(R"({"input":"Hi"})"), k);
    EXPECT_NE(k, request_key(endpoint_embeddings, "m", "global", json::parse(R"({"input":"hi"})")));
}

TEST(embedding_split, rejects_what_it_cannot_split) {
    EXPECT_FALSE(plan_embeddings("m", "g", json::parse(R"({"model":"e"})")).ok);
    EXPECT_FALSE(plan_embeddings("m", "g", json::parse(R"({"input":[]})")).ok);
    EXPECT_FALSE(plan_embeddings("m", "g", json::parse(R"({"input":[{"x":1}]})")).ok);
    EXPECT_FALSE(plan_embeddings("m", "g", json::parse(R"({"input":42})")).ok);

    // An upstream answer that does not match the request is an error, not a wrong mapping.
    auto body = json::parse(R"({"input":["a","b"]})");
    auto plan = plan_embeddings("m", "g", body);
    std::vector<std::optional<cached_embedding>> found(2);
    auto split = split_embeddings(plan, found);
    json short_answer = json::parse(R"({"data":[{"index":0,"embedding":[1]}],"usage":{"prompt_tokens":2}})");
    EXPECT_FALSE(merge_embeddings(plan, split, found, body, &short_answer, "m").ok);
    json repeated = json::parse(R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]})");
    EXPECT_FALSE(merge_embeddings(plan, split, found, body, &repeated, "m").ok);
    EXPECT_FALSE(merge_embeddings(plan, split, found, body, nullptr, "m").ok);
}

TEST(embedding_split, fixture_response_merges_and_round_trips) {
    for (auto f : {"openai/embeddings.json", "llama-server/embeddings.json"}) {
        json upstream = test::fixture_json(f);
        json body = {{"model", "e"}, {"input", "The food was delicious"}};
        auto plan = plan_embeddings("e", "global", body);
        std::vector<std::optional<cached_embedding>> none(1);
        auto split = split_embeddings(plan, none);
        auto merged = merge_embeddings(plan, split, none, body, &upstream, "e");
        ASSERT_TRUE(merged.ok) << merged.error;
        json out = json::parse(merged.response);
        EXPECT_EQ(out["data"][0]["embedding"], upstream["data"][0]["embedding"]);
        EXPECT_EQ(out["usage"], upstream["usage"]);
        EXPECT_EQ(out["model"], upstream["model"]);
        ASSERT_EQ(merged.to_store.size(), 1u);
        auto back = deserialize_embedding(serialize_embedding(merged.to_store[0].second));
        ASSERT_TRUE(back);
        EXPECT_EQ(json::parse(back->embedding_json), upstream["data"][0]["embedding"]);
        EXPECT_EQ(back->tokens, upstream["usage"]["prompt_tokens"].get<std::uint64_t>());
    }
    EXPECT_FALSE(deserialize_embedding("{}"));
    EXPECT_FALSE(deserialize_embedding("garbage"));
}

}  // namespace
}  // namespace swapgate::cache
