// The semantic cache tier through the proxy: a real redis-server, swapgate-sim
// for chat and for (bag-of-words) embeddings, one or two swapgates.
#include "fixture.hpp"
#include "tests/support/redis_server.hpp"

#include <thread>

namespace swapgate::test {
namespace {

std::string semantic_yaml(int sim_port, const std::string& redis_url, const std::string& extra = "") {
    return "log:\n  requests: false\n" + extra + "cache:\n  redis: \"" + redis_url +
           "\"\n  redis_timeout: 1s\n  embed_timeout: 2s\n  test_hooks: true\n"
           "backends:\n  sim:\n    url: " + url_of(sim_port) + "\n"
           "models:\n"
           "  - name: m\n    backend: sim\n    cache: {semantic: {embedding_model: e, threshold: 0.95}}\n"
           "  - name: e\n    backend: sim\n";
}

std::string ask(const std::string& system, const std::string& user, const std::string& extra = "") {
    json b{{"model", "m"}, {"temperature", 0}, {"max_tokens", 6},
           {"messages", json::array({{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", user}}})}};
    if (!extra.empty()) b.update(json::parse(extra));
    return b.dump();
}

struct semantic_env {
    redis_server redis;
    std::unique_ptr<child> sim = start_sim({"--model", "m", "--model", "e", "--threads", "2"});
    std::unique_ptr<child> proxy;
    explicit semantic_env(const std::string& extra = "") { proxy = start_proxy(semantic_yaml(sim->port(), redis.url(), extra)); }
    std::unique_ptr<child> another() { return start_proxy(semantic_yaml(sim->port(), redis.url())); }
    http_response chat(const std::string& body, int port = 0, std::map<std::string, std::string> h = {}) {
        http_client c(port ? port : proxy->port());
        return c.request("POST", "/v1/chat/completions", body, h);
    }
    long long sim_requests() { return sim_stats(sim->port())["requests"].get<long long>(); }
};

// Repeats a request until its cache header starts with `want` (the store and
// the index insert happen after the first answer went out), at most ~5 s. For a
// semantic hit each try asks with one more '?' (the same words, so the same
// embedding), so a try that missed and stored its own answer cannot turn the
// next try into an exact hit.
http_response until_header(semantic_env& env, const std::string& body, const std::string& want, int port = 0,
                           std::map<std::string, std::string> h = {}) {
    http_response r;
    for (int i = 0; i < 50; ++i) {
        std::string b = body;
        if (want == "semantic-hit") {
            auto j = json::parse(body);
            j["messages"].back()["content"] = j["messages"].back()["content"].get<std::string>() + std::string(i, '?');
            b = j.dump();
        }
        r = env.chat(b, port, h);
        if (r.header("x-swapgate-cache").rfind(want, 0) == 0) return r;
        std::this_thread::sleep_for(100ms);
    }
    return r;
}

TEST(SemanticCache, SimilarWordingHitsDifferentWordingMisses) {
    semantic_env env;
    auto first = env.chat(ask("be brief", "what is the capital city of france please"));
    ASSERT_EQ(first.status, 200);
    EXPECT_EQ(first.header("x-swapgate-cache"), "miss");
    // Same words, other punctuation and case: the sim's embedding is identical.
    auto hit = until_header(env, ask("be brief", "What is the capital city of France, please?"), "semantic-hit");
    ASSERT_EQ(hit.header("x-swapgate-cache").rfind("semantic-hit; similarity=", 0), 0u) << hit.header("x-swapgate-cache");
    auto a = json::parse(first.body), b = json::parse(hit.body);
    EXPECT_EQ(b["choices"][0]["message"]["content"], a["choices"][0]["message"]["content"]);
    EXPECT_EQ(b["swapgate_cache"], "semantic-hit");
    long long before = env.sim_requests();
    auto other = env.chat(ask("be brief", "how do I bake sourdough bread at home"));
    EXPECT_EQ(other.header("x-swapgate-cache"), "miss");
    EXPECT_GT(env.sim_requests(), before);  // went upstream (the embedding call counts too)
}

TEST(SemanticCache, NoHitWhenAnythingButTheFinalWordingDiffers) {
    semantic_env env("auth:\n  api_keys: [sk-a, sk-b]\n");
    std::map<std::string, std::string> key_a{{"Authorization", "Bearer sk-a"}}, key_b{{"Authorization", "Bearer sk-b"}};
    const std::string q = "what is the capital city of france please";
    ASSERT_EQ(env.chat(ask("be brief", q), 0, key_a).status, 200);
    ASSERT_EQ(until_header(env, ask("be brief", q + "?"), "semantic-hit", 0, key_a).header("x-swapgate-cache").rfind("semantic-hit", 0), 0u);
    const std::vector<std::pair<std::string, std::pair<std::string, std::map<std::string, std::string>>>> variants = {
        {"namespace", {ask("be brief", q + "!"), key_b}},
        {"system prompt", {ask("be long", q + "!"), key_a}},
        {"earlier turn", {json{{"model", "m"}, {"temperature", 0}, {"max_tokens", 6},
                               {"messages", json::array({{{"role", "system"}, {"content", "be brief"}},
                                                         {{"role", "user"}, {"content", "hi"}},
                                                         {{"role", "assistant"}, {"content", "hello"}},
                                                         {{"role", "user"}, {"content", q + "!"}}})}}.dump(),
                          key_a}},
        {"tools", {ask("be brief", q + "!", R"({"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]})"), key_a}},
        {"parameters", {ask("be brief", q + "!", R"({"top_p":0.5})"), key_a}},
        {"max_tokens", {ask("be brief", q + "!", R"({"max_tokens":7})"), key_a}},
    };
    for (const auto& [what, req] : variants) {
        auto r = env.chat(req.first, 0, req.second);
        EXPECT_EQ(r.status, 200) << what;
        EXPECT_EQ(r.header("x-swapgate-cache"), "miss") << what << " must not share the partition";
    }
}

TEST(SemanticCache, CorruptedCandidateIsRejectedByVerification) {
    semantic_env env;
    const std::string q = "what is the capital city of france please";
    std::string a = ask("system one", q), b = ask("system two", q);
    ASSERT_EQ(env.chat(a).status, 200);
    ASSERT_EQ(until_header(env, a, "hit").header("x-swapgate-cache"), "hit");  // A is stored
    http_client c(env.proxy->port());
    auto keys = json::parse(c.request("POST", "/admin/cache/keys", json{{"request", json::parse(a)}}.dump()).body);
    // Plant an index entry in B's partition that points at A's answer.
    auto inj = c.request("POST", "/admin/cache/semantic-inject",
                         json{{"request", json::parse(b)}, {"entry_key", keys["exact"]}}.dump());
    ASSERT_EQ(inj.status, 200) << inj.body;
    auto r = env.chat(b);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-swapgate-cache"), "miss");
    auto m = c.request("GET", "/metrics").body;
    EXPECT_NE(m.find("swapgate_cache_semantic_rejects_total{reason=\"partition_mismatch\"} 1"), std::string::npos) << m;
}

TEST(SemanticCache, TwoProxiesShareSemanticEntriesThroughTheRedisStream) {
    semantic_env env;
    auto second = env.another();  // started before anything is stored: it must follow the stream
    const std::string q = "what is the capital city of france please";
    ASSERT_EQ(env.chat(ask("be brief", q)).status, 200);
    auto r = until_header(env, ask("be brief", q + "?"), "semantic-hit", second->port());
    EXPECT_EQ(r.header("x-swapgate-cache").rfind("semantic-hit", 0), 0u) << r.header("x-swapgate-cache");
    // And a third one started afterwards loads the entry at start (SCAN).
    auto third = env.another();
    auto r3 = until_header(env, ask("be brief", q + "!"), "semantic-hit", third->port());
    EXPECT_EQ(r3.header("x-swapgate-cache").rfind("semantic-hit", 0), 0u) << r3.header("x-swapgate-cache");
}

}  // namespace
}  // namespace swapgate::test
