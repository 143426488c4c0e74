// The response cache as wired into the proxy, over real loopback: swapgate in
// front of swapgate-sim (or a scripted upstream), with a real redis-server or the
// in-process store. A hit is proven by the backend's request count not moving.
// Here: hits, the key, namespaces, TTL, request headers, modes, size bounds;
// replay in cache_replay_test.cpp, embeddings and Redis sharing and failures in
// cache_shared_test.cpp.
#include "cache_helpers.hpp"

#include <atomic>
#include <mutex>
#include <thread>

namespace swapgate::test::cache {
namespace {

// ---- 1. hit and miss ----------------------------------------------------------------

void hit_and_miss(cache_env& env, const std::string& store_name) {
    std::string body = det_body("m");
    auto miss = store(env, body);
    auto mj = body_json(miss);
    EXPECT_FALSE(mj.contains("swapgate_cache")) << miss.body;
    auto hit = expect_chat(env, body, "hit", 0);
    auto hj = body_json(hit);
    ASSERT_TRUE(hj.is_object()) << hit.body;
    EXPECT_EQ(hj.value("swapgate_cache", ""), "hit");
    EXPECT_EQ(hj["choices"], mj["choices"]);
    EXPECT_EQ(hj["usage"], mj["usage"]);
    EXPECT_EQ(hj["id"], mj["id"]) << "the stored completion is replayed";
    EXPECT_EQ(hj["model"], mj["model"]);
    // And again: a hit does not consume the entry.
    expect_chat(env, body, "hit", 0);

    auto m = env.metrics();
    EXPECT_EQ(metric(m, R"(swapgate_cache_lookups_total{model="m",result="hit"})"), 2) << m;
    EXPECT_EQ(metric(m, R"(swapgate_cache_lookups_total{model="m",result="miss"})"), 1);
    EXPECT_EQ(metric(m, R"(swapgate_cache_stores_total{model="m",outcome="stored"})"), 1);
    EXPECT_EQ(metric(m, "swapgate_cache_store_up{store=\"" + store_name + "\"}"), 1);

    // A hit needs no backend at all.
    env.sim.reset();
    auto gone = env.chat(body);
    EXPECT_EQ(gone.status, 200) << gone.body;
    EXPECT_EQ(gone.header(hdr), "hit");
    EXPECT_EQ(body_json(gone)["choices"], mj["choices"]);
    EXPECT_EQ(env.chat(det_body("m", "not cached")).status, 502);
}

TEST(Cache, HitAndMissWithRedis) {
    cache_env env;
    hit_and_miss(env, "redis");
    EXPECT_GE(redis_dbsize(env.redis->port()), 1) << "the entry lives in Redis";
}

TEST(Cache, HitAndMissWithTheInProcessStore) {
    cache_env env({.redis = false});
    hit_and_miss(env, "memory");
}

TEST(Cache, TextCompletionsHitToo) {
    cache_env env;
    std::string body = R"({"model":"m","prompt":"Once upon a time","temperature":0})";
    long long before = env.sim_requests();
    auto mark = env.mark();
    auto a = env.post("/v1/completions", body);
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.header(hdr), "miss");
    ASSERT_TRUE(env.wait_stored(mark));
    auto b = env.post("/v1/completions", body);
    ASSERT_EQ(b.status, 200) << b.body;
    EXPECT_EQ(b.header(hdr), "hit");
    EXPECT_EQ(env.sim_requests() - before, 1);
    EXPECT_EQ(choices_of(a), choices_of(b));
    // A chat request is another endpoint: never the text completion's entry.
    expect_chat(env, R"({"model":"m","messages":[{"role":"user","content":"Once upon a time"}],"temperature":0})",
                "miss", 1);
}

// ---- 2. key normalisation, aliases ------------------------------------------------------

TEST(Cache, KeyIgnoresJsonSpellingAndAliasesShareEntries) {
    cache_env env;
    auto first = store(env, det_body("m", "normalise me"));
    const std::vector<std::string> same = {
        // key order (top level and nested), whitespace
        "{ \"temperature\" : 0 ,\n\t\"messages\" : [ { \"content\" : \"normalise me\" , \"role\" : \"user\" } ] ,"
        " \"model\" : \"m\" }",
        // number spellings of zero
        R"({"model":"m","messages":[{"role":"user","content":"normalise me"}],"temperature":0.0})",
        R"({"model":"m","messages":[{"role":"user","content":"normalise me"}],"temperature":0e0})",
        R"({"model":"m","messages":[{"role":"user","content":"normalise me"}],"temperature":-0.0})",
        // string escapes that spell the same text
        R"({"model":"m","messages":[{"role":"user","content":"\u006eormalise\u0020me"}],"temperature":0})",
        // an alias of the same model
        R"({"model":"m-alias","messages":[{"role":"user","content":"normalise me"}],"temperature":0})",
        // a top-level null member is unset
        R"({"model":"m","messages":[{"role":"user","content":"normalise me"}],"temperature":0,"top_p":null})",
    };
    for (const auto& b : same) {
        auto r = expect_chat(env, b, "hit", 0);
        EXPECT_EQ(choices_of(r), choices_of(first)) << b;
    }
}

// ---- 3. what is in the key ----------------------------------------------------------------

TEST(Cache, EveryRequestFieldIsInTheKeyButStreamStreamOptionsAndUser) {
    cache_env env;
    const std::string msg = R"("messages":[{"role":"user","content":"key fields"}])";
    auto body = [&](const std::string& extra) {
        return R"({"model":"m",)" + msg + R"(,"temperature":0,"seed":7)" + (extra.empty() ? "" : "," + extra) + "}";
    };
    std::string base = body("");
    store(env, base);
    expect_chat(env, base, "hit", 0);

    const std::vector<std::pair<std::string, std::string>> differ = {
        {"messages content", R"({"model":"m","messages":[{"role":"user","content":"key fields!"}],"temperature":0,"seed":7})"},
        {"system prompt",
         R"({"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"key fields"}],"temperature":0,"seed":7})"},
        {"tools", body(R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}])")},
        {"tool_choice", body(R"("tool_choice":"none")")},
        {"response_format", body(R"("response_format":{"type":"json_object"})")},
        {"temperature (with seed)", R"({"model":"m",)" + msg + R"(,"temperature":0.5,"seed":7})"},
        {"top_p", body(R"("top_p":0.9)")},
        {"max_tokens", body(R"("max_tokens":5)")},
        {"max_completion_tokens", body(R"("max_completion_tokens":5)")},
        {"stop", body(R"("stop":["zzz"])")},
        {"seed", R"({"model":"m",)" + msg + R"(,"temperature":0,"seed":8})"},
        {"presence_penalty", body(R"("presence_penalty":0.5)")},
        {"frequency_penalty", body(R"("frequency_penalty":0.5)")},
        {"logit_bias", body(R"("logit_bias":{"50256":-100})")},
        {"unknown extra", body(R"("x_vendor_knob":{"k":1})")},
        {"n=1 spelled out", body(R"("n":1)")},
    };
    for (const auto& [what, b] : differ) {
        SCOPED_TRACE(what);
        store(env, b);
        expect_chat(env, b, "hit", 0);  // the variant itself is cacheable
    }
    {
        SCOPED_TRACE("n=2");
        expect_chat(env, body(R"("n":2)"), "bypass", 1);
        expect_chat(env, body(R"("n":2)"), "bypass", 1);
    }
    // Not in the key.
    {
        SCOPED_TRACE("user");
        expect_chat(env, body(R"("user":"someone-else")"), "hit", 0);
    }
    {
        SCOPED_TRACE("stream:false");
        expect_chat(env, body(R"("stream":false)"), "hit", 0);
    }
    {
        SCOPED_TRACE("stream:true");
        auto r = expect_chat(env, body(R"("stream":true)"), "hit", 0);
        auto s = parse_stream(r.body);
        EXPECT_TRUE(s.done) << r.body;
    }
    {
        SCOPED_TRACE("stream_options");
        auto r = expect_chat(env, body(R"("stream":true,"stream_options":{"include_usage":true})"), "hit", 0);
        EXPECT_TRUE(parse_stream(r.body).done) << r.body;
    }
}

// ---- 4. namespaces --------------------------------------------------------------------------

TEST(Cache, NamespaceComesFromTheApiKeyOnly) {
    cache_env env({.auth = "[sk-a, sk-b, sk-c]", .tenants = "{sk-a: team-a, sk-c: team-a}"});
    auto key = [](const std::string& k) { return std::map<std::string, std::string>{{"Authorization", "Bearer " + k}}; };
    std::string body = det_body("m", "tenant question");
    auto a = store(env, body, key("sk-a"));
    expect_chat(env, body, "hit", 0, key("sk-a"));
    // Another key: another namespace, whatever headers claim.
    auto spoof = key("sk-b");
    spoof["X-Swapgate-Tenant"] = "team-a";
    spoof["X-Swapgate-Namespace"] = "tenant:team-a";
    spoof["X-Tenant"] = "team-a";
    auto b = store(env, body, spoof);
    EXPECT_NE(body_json(b)["id"], body_json(a)["id"]);
    // sk-b's own entry (stored by the spoofing request) is under sk-b.
    auto b2 = expect_chat(env, body, "hit", 0, key("sk-b"));
    EXPECT_EQ(body_json(b2)["id"], body_json(b)["id"]);
    // A spoofed header on sk-a's request does not move it out of team-a either.
    auto a_spoof = key("sk-a");
    a_spoof["X-Swapgate-Tenant"] = "someone-else";
    a_spoof["X-Swapgate-Namespace"] = "global";
    auto a2 = expect_chat(env, body, "hit", 0, a_spoof);
    EXPECT_EQ(body_json(a2)["id"], body_json(a)["id"]);
    // sk-c is mapped to the same tenant: it shares sk-a's entries.
    auto c = expect_chat(env, body, "hit", 0, key("sk-c"));
    EXPECT_EQ(body_json(c)["id"], body_json(a)["id"]);
    // No key, no answer (and nothing reaches the backend).
    long long before = env.sim_requests();
    EXPECT_EQ(env.chat(body).status, 401);
    EXPECT_EQ(env.sim_requests(), before);
}

// ---- 8. TTL --------------------------------------------------------------------------------

TEST(Cache, EntriesExpireAfterTheirTtlInRedis) {
    cache_env env;
    std::string body = det_body("m-ttl", "short lived");
    store(env, body);
    expect_chat(env, body, "hit", 0);
    // Redis drops the key once its PX passes (watch it rather than sleep blind).
    ASSERT_TRUE(eventually([&] { return redis_dbsize(env.redis->port()) == 0; }, 5s))
        << "keys left: " << redis_dbsize(env.redis->port());
    expect_chat(env, body, "miss", 1);
    expect_chat(env, body, "hit", 0);
}

TEST(Cache, EntriesExpireAfterTheirTtlInProcess) {
    cache_env env({.redis = false});
    std::string body = det_body("m-ttl", "short lived");
    store(env, body);
    expect_chat(env, body, "hit", 0);
    std::this_thread::sleep_for(2500ms);
    expect_chat(env, body, "miss", 1);
}

// A TTL under a whole second is kept as written (config accepts 1500ms).
TEST(Cache, TtlKeepsItsMilliseconds) {
    cache_env env;
    store(env, det_body("m-ttl-ms", "ttl in ms"));
    ASSERT_TRUE(eventually([&] { return redis_dbsize(env.redis->port()) == 1; }, 5s));
    long long pttl = redis_max_pttl(env.redis->port());
    EXPECT_GT(pttl, 1000) << "ttl: 1500ms was stored with PX " << pttl << " (whole seconds only?)";
    EXPECT_LE(pttl, 1500);
}

// ---- 9. request headers ---------------------------------------------------------------------

TEST(Cache, NoCacheNoStoreBypassAndRefreshHeaders) {
    cache_env env;
    std::string a = det_body("m", "headers a");
    auto first = store(env, a);
    // no-cache: fresh from upstream and stored; the next plain request hits the new entry.
    auto fresh = store(env, a, {{"Cache-Control", "no-cache"}});
    EXPECT_NE(body_json(fresh)["id"], body_json(first)["id"]);
    auto after = expect_chat(env, a, "hit", 0);
    EXPECT_EQ(body_json(after)["id"], body_json(fresh)["id"]) << "the hit serves the refreshed entry";
    // refresh: the same through X-Swapgate-Cache.
    auto refreshed = store(env, a, {{"X-Swapgate-Cache", "refresh"}});
    auto after2 = expect_chat(env, a, "hit", 0);
    EXPECT_EQ(body_json(after2)["id"], body_json(refreshed)["id"]);
    // no-store / bypass: not looked up...
    expect_chat(env, a, "bypass", 1, {{"Cache-Control", "no-store"}});
    expect_chat(env, a, "bypass", 1, {{"X-Swapgate-Cache", "bypass"}});
    // ...and not stored: the entry is still the refreshed one.
    auto after3 = expect_chat(env, a, "hit", 0);
    EXPECT_EQ(body_json(after3)["id"], body_json(refreshed)["id"]);
    std::string b = det_body("m", "headers b");
    expect_chat(env, b, "bypass", 1, {{"Cache-Control", "no-store"}});
    expect_chat(env, b, "bypass", 1, {{"X-Swapgate-Cache", "bypass"}});
    store(env, b);
    expect_chat(env, b, "hit", 0);
    // Cache-Control: max-age=0 is no-cache.
    expect_chat(env, b, "miss", 1, {{"Cache-Control", "max-age=0"}});
    // No header makes an uneligible request cacheable.
    std::string hot = R"({"model":"m","messages":[{"role":"user","content":"headers hot"}],"temperature":0.9})";
    expect_chat(env, hot, "bypass", 1, {{"X-Swapgate-Cache", "refresh"}});
    expect_chat(env, hot, "bypass", 1);
}

// ---- 10. eligibility modes --------------------------------------------------------------------

TEST(Cache, ModesDeterministicAlwaysOff) {
    cache_env env;
    std::string warm = R"("messages":[{"role":"user","content":"modes"}],"temperature":0.7)";
    // deterministic: temperature 0.7 without a seed is not cacheable.
    expect_chat(env, R"({"model":"m",)" + warm + "}", "bypass", 1);
    expect_chat(env, R"({"model":"m",)" + warm + "}", "bypass", 1);
    // ...with a seed it is.
    store(env, R"({"model":"m",)" + warm + R"(,"seed":3})");
    expect_chat(env, R"({"model":"m",)" + warm + R"(,"seed":3})", "hit", 0);
    // always: the same request hits.
    store(env, R"({"model":"m-always",)" + warm + "}");
    expect_chat(env, R"({"model":"m-always",)" + warm + "}", "hit", 0);
    auto s = expect_chat(env, R"({"model":"m-always",)" + warm + R"(,"stream":true})", "hit", 0);
    EXPECT_TRUE(parse_stream(s.body).done);
    // off: never looked up, never stored.
    std::string det = R"({"model":"m-off","messages":[{"role":"user","content":"modes"}],"temperature":0})";
    expect_chat(env, det, "off", 1);
    expect_chat(env, det, "off", 1);
    auto so = expect_chat(env, R"({"model":"m-off","messages":[{"role":"user","content":"modes"}],"temperature":0,"stream":true})",
                          "off", 1);
    EXPECT_TRUE(parse_stream(so.body).done);
    auto m = env.metrics();
    EXPECT_EQ(metric(m, R"(swapgate_cache_lookups_total{model="m-off",result="off"})"), 3) << m;
    EXPECT_EQ(metric(m, R"(swapgate_cache_lookups_total{model="m",result="bypass"})"), 2);
    EXPECT_EQ(metric(m, R"(swapgate_cache_stores_total{model="m-off",outcome="stored"})"), 0);
}

// ---- 15. size bound ----------------------------------------------------------------------------

TEST(Cache, AnswerLargerThanMaxEntrySizeIsAnsweredButNotStored) {
    cache_env env;
    std::string body = det_body("m-tiny", "too big to keep");
    auto r = expect_chat(env, body, "miss", 1);
    EXPECT_FALSE(from_response(body_json(r)).content.empty()) << r.body;
    expect_chat(env, body, "miss", 1);
    auto s = expect_chat(env, det_body("m-tiny", "too big to keep", R"("stream":true)"), "miss", 1);
    EXPECT_TRUE(parse_stream(s.body).done) << s.body;
    auto m = env.metrics();
    EXPECT_EQ(metric(m, R"(swapgate_cache_stores_total{model="m-tiny",outcome="stored"})"), 0) << m;
    EXPECT_EQ(metric(m, R"(swapgate_cache_stores_total{model="m-tiny",outcome="too_large"})"), 3) << m;
    EXPECT_EQ(redis_dbsize(env.redis->port()), 0);
}

// An answer the in-process store cannot hold (larger than the whole store) is
// answered, not kept, and not counted as stored.
TEST(Cache, AnswerLargerThanTheInProcessStoreIsNotCountedAsStored) {
    cache_env env({.redis = false, .memory = "600"});
    std::string body = det_body("m", "bigger than the store", R"("sim":{"tokens":120})");
    auto r = expect_chat(env, body, "miss", 1);
    ASSERT_GT(r.body.size(), 600u);
    expect_chat(env, body, "miss", 1);
    auto m = env.metrics();
    EXPECT_EQ(metric(m, R"(swapgate_cache_stores_total{model="m",outcome="stored"})"), 0)
        << "the store refused the entry, the metric says it was stored:\n" << cache_metrics(env, 0);
}

}  // namespace
}  // namespace swapgate::test::cache
