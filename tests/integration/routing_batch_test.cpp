// Embeddings batching: concurrent requests merged into one upstream call while
// the backend is busy, split back in order; failures of a merged call.
#include "routing_helpers.hpp"

namespace swapgate::test {
namespace {

// ---- embeddings batching ------------------------------------------------------

// swapgate in front of a sim whose embeddings calls take `call_ms`, model "emb"
// batched with one call at a time (slots: 1), so requests sent while a call runs
// gather behind it; the cache is off.
struct batched_embeddings {
    std::unique_ptr<child> sim, proxy;
    explicit batched_embeddings(int call_ms)
        : sim(start_sim({"--model", "e,embed_call_ms=" + std::to_string(call_ms) + ",dims=8"})),
          proxy(start_proxy("backends:\n  up:\n    url: " + url_of(sim->port()) +
                            "\nmodels:\n  - {name: emb, backend: up, cache: {mode: off}, batch: {window: 5s, slots: 1}}\n")) {}
    // POST /v1/embeddings with `fields` ("input":..., and more) for model emb.
    http_response embed(const std::string& fields) const {
        http_client c(proxy->port());
        return c.request("POST", "/v1/embeddings", R"({"model":"emb",)" + fields + "}");
    }
    // Starts one request and waits until the sim is busy with it.
    std::future<http_response> occupy(const std::string& fields) const {
        auto f = std::async(std::launch::async, [this, fields] { return embed(fields); });
        EXPECT_TRUE(eventually([&] { return sim_stats(sim->port()).value("active_requests", 0) == 1; }, 5s));
        return f;
    }
    std::future<http_response> later(const std::string& fields) const {
        return std::async(std::launch::async, [this, fields] { return embed(fields); });
    }
    int upstream_calls() const { return sim_stats(sim->port()).value("requests", -1); }
};

TEST(Routing, EmbeddingsGatherWhileTheBackendIsBusyAndSplitBackInOrder) {
    // Each call takes 1.5 s. The first, alone, goes at once.
    batched_embeddings b(1500);
    auto first = b.occupy(R"("input":"alpha")");
    // Three more while it runs: one string, a list of two, one string.
    std::vector<std::future<http_response>> rest;
    for (const char* in : {R"("input":"beta")", R"("input":["gamma","delta"])", R"("input":"epsilon")"})
        rest.push_back(b.later(in));
    auto r0 = first.get();
    ASSERT_EQ(r0.status, 200) << r0.body << "\n" << b.proxy->output();
    std::vector<http_response> rs;
    for (auto& f : rest) rs.push_back(f.get());
    // Two upstream calls: the lone one and the gathered batch of four inputs.
    EXPECT_EQ(b.upstream_calls(), 2);
    auto m = metrics_of(b.proxy->port());
    EXPECT_EQ(metric_value(m, R"(swapgate_embed_batch_size_count{model="emb"})"), 2) << m;
    EXPECT_EQ(metric_value(m, R"(swapgate_embed_batch_size_sum{model="emb"})"), 4) << m;

    // Each answer has its own inputs, in order, equal to what the sim answers
    // for them directly, and its own usage.
    std::map<std::string, json> direct;  // one call to the sim for all four texts
    {
        http_client c(b.sim->port());
        auto r = c.request("POST", "/v1/embeddings", R"({"model":"e","input":["beta","gamma","delta","epsilon"]})");
        auto j = json::parse(r.body);
        size_t i = 0;
        for (const char* t : {"beta", "gamma", "delta", "epsilon"}) direct[t] = j["data"][i++]["embedding"];
    }
    std::vector<std::vector<std::string>> texts{{"beta"}, {"gamma", "delta"}, {"epsilon"}};
    for (size_t i = 0; i < rs.size(); ++i) {
        ASSERT_EQ(rs[i].status, 200) << rs[i].body;
        auto j = json::parse(rs[i].body);
        EXPECT_EQ(j.value("model", ""), "emb") << rs[i].body;
        ASSERT_EQ(j["data"].size(), texts[i].size()) << rs[i].body;
        for (size_t k = 0; k < texts[i].size(); ++k) {
            EXPECT_EQ(j["data"][k].value("index", -1), static_cast<int>(k));
            EXPECT_EQ(j["data"][k]["embedding"], direct.at(texts[i][k])) << texts[i][k];
        }
        EXPECT_GT(j["usage"].value("prompt_tokens", 0), 0) << rs[i].body;
    }
    auto u1 = json::parse(rs[1].body)["usage"].value("prompt_tokens", 0);
    auto u0 = json::parse(rs[0].body)["usage"].value("prompt_tokens", 0);
    EXPECT_GT(u1, u0) << "two inputs should carry more of the batch's usage than one";
}

TEST(Routing, EmbeddingsWithDifferentParametersAreNotMerged) {
    batched_embeddings b(1000);
    auto first = b.occupy(R"("input":"x")");
    auto fa = b.later(R"("input":"x","encoding_format":"float")");
    auto fb = b.later(R"("input":"x","encoding_format":"base64")");
    EXPECT_EQ(first.get().status, 200);
    auto ra = fa.get(), rb = fb.get();
    EXPECT_EQ(ra.status, 200) << ra.body;
    EXPECT_EQ(rb.status, 200) << rb.body;
    EXPECT_TRUE(json::parse(rb.body)["data"][0]["embedding"].is_string()) << rb.body;  // base64 stayed base64
    EXPECT_EQ(b.upstream_calls(), 3);
}

TEST(Routing, OneBadInputInABatchFailsOnlyItsOwnRequest) {
    batched_embeddings b(1000);
    auto first = b.occupy(R"("input":"alpha")");
    // Gathered behind the first: two good requests and one the backend refuses
    // (a token list with a string in it).
    auto good1 = b.later(R"("input":"beta")");
    auto bad = b.later(R"("input":[1,"x"])");
    auto good2 = b.later(R"("input":["gamma","delta"])");
    EXPECT_EQ(first.get().status, 200);
    auto g1 = good1.get(), r_bad = bad.get(), g2 = good2.get();
    EXPECT_EQ(g1.status, 200) << g1.body;
    EXPECT_EQ(g2.status, 200) << g2.body;
    EXPECT_EQ(json::parse(g2.body)["data"].size(), 2u) << g2.body;
    EXPECT_EQ(r_bad.status, 400) << r_bad.body;
    EXPECT_TRUE(has(route_of(g1), "batch=alone")) << route_of(g1);
    // The refused batch, then each request on its own.
    EXPECT_EQ(b.upstream_calls(), 5);
}

TEST(Routing, AFailedBatchFallsDownTheChain) {
    auto sim = start_sim({"--model", "e,dims=8"});
    auto proxy = start_proxy("backends:\n  dead:\n    url: " + dead_url() + "\n  up:\n    url: " + url_of(sim->port()) +
                             "\nmodels:\n  - {name: emb, backend: dead, cache: {mode: off}, batch: {}, fallback: [emb2]}\n"
                             "  - {name: emb2, backend: up, upstream_model: e, cache: {mode: off}}\n");
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/embeddings", R"({"model":"emb","input":["one","two"]})");
    ASSERT_EQ(r.status, 200) << r.body << "\n" << proxy->output();
    EXPECT_TRUE(has(route_of(r), "failed=emb:status_5xx; served_by=emb2")) << route_of(r);
    EXPECT_EQ(json::parse(r.body)["data"].size(), 2u) << r.body;
    EXPECT_EQ(metric_value(metrics_of(proxy->port()), R"(swapgate_fallbacks_total{model="emb",trigger="status_5xx"})"), 1);
}

}  // namespace
}  // namespace swapgate::test
