// The response cache: embeddings cached per input, two proxies sharing one
// Redis, and Redis failing (killed under load, slow, down at start).
#include "cache_helpers.hpp"

#include <atomic>
#include <mutex>
#include <thread>

namespace swapgate::test::cache {
namespace {

// ---- 11. embeddings ----------------------------------------------------------------------------

std::vector<std::vector<float>> vectors_of(const json& body) {
    std::vector<std::vector<float>> out;
    if (!body.contains("data")) return out;
    out.resize(body["data"].size());
    for (const auto& d : body["data"]) {
        size_t i = d.value("index", 0);
        if (i >= out.size()) continue;
        for (const auto& x : d["embedding"]) out[i].push_back(x.get<float>());
    }
    return out;
}

TEST(Cache, EmbeddingsAreCachedPerInput) {
    cache_env env;
    auto embed = [&](const std::string& input) {
        return env.post(embed_path, R"({"model":"m","input":)" + input + "}");
    };
    auto direct = [&](const std::string& input) {
        http_client c(env.sim->port());
        auto r = c.request("POST", embed_path, R"({"model":"m","input":)" + input + "}");
        EXPECT_EQ(r.status, 200);
        return vectors_of(body_json(r));
    };
    long long before = env.sim_requests();
    auto mark = env.mark();
    auto ab = embed(R"(["a","b"])");
    ASSERT_EQ(ab.status, 200) << ab.body;
    EXPECT_EQ(ab.header(hdr), "miss");
    EXPECT_EQ(env.sim_requests() - before, 1);
    ASSERT_TRUE(env.wait_stored(mark, 2)) << "one entry per input";

    before = env.sim_requests();
    mark = env.mark();
    auto ac = embed(R"(["a","c"])");
    ASSERT_EQ(ac.status, 200) << ac.body;
    EXPECT_EQ(env.sim_requests() - before, 1);
    ASSERT_TRUE(env.wait_stored(mark, 1)) << "only the new input is stored";
    auto acj = body_json(ac);
    EXPECT_EQ(acj["swapgate_cache"], (json{{"cached_inputs", 1}, {"inputs", 2}})) << ac.body;

    before = env.sim_requests();
    auto cba = embed(R"(["c","b","a"])");
    ASSERT_EQ(cba.status, 200) << cba.body;
    EXPECT_EQ(cba.header(hdr), "hit");
    EXPECT_EQ(env.sim_requests() - before, 0) << "an all-cached batch needs no upstream";
    EXPECT_EQ(body_json(cba)["swapgate_cache"], (json{{"cached_inputs", 3}, {"inputs", 3}})) << cba.body;
    // A single string input is the same entry.
    auto single = embed(R"("b")");
    EXPECT_EQ(single.header(hdr), "hit");
    EXPECT_EQ(env.sim_requests() - before, 0);

    // The vectors sit at the right indexes and equal the backend's own.
    EXPECT_EQ(vectors_of(acj), direct(R"(["a","c"])"));
    EXPECT_EQ(vectors_of(body_json(cba)), direct(R"(["c","b","a"])"));
    EXPECT_EQ(vectors_of(body_json(single)), direct(R"("b")"));
    auto cj = body_json(cba);
    for (size_t i = 0; i < cj["data"].size(); ++i) EXPECT_EQ(cj["data"][i]["index"], i) << cba.body;
    EXPECT_EQ(cj["usage"]["prompt_tokens"], 3) << cba.body;
}

TEST(Cache, EmbeddingsAskTheUpstreamOnlyForTheMissingInputs) {
    scripted_upstream up;
    auto reply = [](const std::string& body) { return scripted_upstream::reply{{{http_reply(200, "application/json", body), {}}}}; };
    up.push(reply(R"({"object":"list","model":"m","data":[{"object":"embedding","index":1,"embedding":[0.0,1.0]},)"
                  R"({"object":"embedding","index":0,"embedding":[1.0,0.0]}],"usage":{"prompt_tokens":2,"total_tokens":2}})"));
    up.push(reply(R"({"object":"list","model":"m","data":[{"object":"embedding","index":0,"embedding":[0.5,0.25]}],)"
                  R"("usage":{"prompt_tokens":1,"total_tokens":1}})"));
    cache_env env({.redis = false, .upstream_url = url_of(up.port())});
    auto r1 = env.post(embed_path, R"({"model":"m","input":["a","b"]})");
    ASSERT_EQ(r1.status, 200) << r1.body;
    EXPECT_EQ(vectors_of(body_json(r1)), (std::vector<std::vector<float>>{{1, 0}, {0, 1}})) << "placed by data[].index";
    auto r2 = env.post(embed_path, R"({"model":"m","input":["a","c"]})");
    ASSERT_EQ(r2.status, 200) << r2.body;
    auto reqs = up.requests();
    ASSERT_EQ(reqs.size(), 2u);
    auto sent = json::parse(request_body(reqs[1]), nullptr, false);
    json input = sent["input"];
    if (input.is_string()) input = json::array({input});
    EXPECT_EQ(input, json::array({"c"})) << request_body(reqs[1]);
    EXPECT_EQ(vectors_of(body_json(r2)), (std::vector<std::vector<float>>{{1, 0}, {0.5f, 0.25f}})) << r2.body;
    EXPECT_EQ(body_json(r2)["usage"]["prompt_tokens"], 2) << r2.body;
    auto r3 = env.post(embed_path, R"({"model":"m","input":["c","a","b"]})");
    ASSERT_EQ(r3.status, 200);
    EXPECT_EQ(r3.header(hdr), "hit");
    EXPECT_EQ(up.requests().size(), 2u);
    EXPECT_EQ(vectors_of(body_json(r3)), (std::vector<std::vector<float>>{{0.5f, 0.25f}, {1, 0}, {0, 1}}));
}

// ---- 12. two proxies, one Redis ----------------------------------------------------------------

TEST(Cache, TwoProxiesSharingRedisSeeEachOthersEntriesAndExpiries) {
    cache_env env;
    auto other = env.second_proxy();
    int p1 = env.proxy->port(), p2 = other->port();
    std::string a = det_body("m", "shared a"), b = det_body("m", "shared b");
    auto a1 = store(env, a, {}, p1);
    auto a2 = expect_chat(env, a, "hit", 0, {}, p2);
    EXPECT_EQ(body_json(a2)["id"], body_json(a1)["id"]);
    store(env, b, {}, p2);
    expect_chat(env, b, "hit", 0, {}, p1);

    long long keys = redis_dbsize(env.redis->port());
    ASSERT_EQ(keys, 2);
    std::string t = det_body("m-ttl", "shared short");
    store(env, t, {}, p1);
    expect_chat(env, t, "hit", 0, {}, p2);
    ASSERT_TRUE(eventually([&] { return redis_dbsize(env.redis->port()) == keys; }, 5s));
    store(env, t, {}, p2);
    expect_chat(env, t, "hit", 0, {}, p1);
}

// ---- 13/14. Redis failures ------------------------------------------------------------------------

TEST(Cache, RedisKilledUnderLoadFailsOpenAndRecovers) {
    cache_env env({.redis_timeout = "50ms"});
    constexpr int threads = 4, per_thread = 50;
    std::atomic<int> ok{0}, failed{0}, done{0}, at_gate{0};
    std::atomic<bool> stopped{false};
    std::vector<std::string> errors;
    std::mutex errors_mu;
    auto worker = [&](int t) {
        std::unique_ptr<http_client> c;
        for (int i = 0; i < per_thread; ++i) {
            // Threads 0 and 1 keep going (slow upstream answers: in flight when Redis
            // dies); 2 and 3 wait at the half for the kill, so half their work runs after it.
            if (t >= 2 && i == per_thread / 2) {
                ++at_gate;
                eventually([&] { return stopped.load(); }, 20s);
            }
            std::string body = t < 2 ? det_body("m", "load " + std::to_string(t) + "-" + std::to_string(i),
                                                R"("sim":{"tokens":4,"token_delay_ms":5})")
                                     : det_body("m", "load shared " + std::to_string(i % 8));
            try {
                if (!c) c = std::make_unique<http_client>(env.proxy->port());
                auto r = c->request("POST", chat_path, body);
                if (r.status == 200) ++ok;
                else {
                    ++failed;
                    std::lock_guard l(errors_mu);
                    errors.push_back(std::to_string(r.status) + " " + r.body);
                }
                if (r.header("connection") == "close") c.reset();
            } catch (const std::exception& e) {
                ++failed;
                c.reset();
                std::lock_guard l(errors_mu);
                errors.push_back(e.what());
            }
            ++done;
        }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
    bool gated = eventually([&] { return at_gate.load() == 2; }, 20s);
    int done_at_kill = done.load();
    env.redis->stop();
    stopped = true;
    for (auto& th : pool) th.join();
    ASSERT_TRUE(gated);
    EXPECT_EQ(ok.load(), threads * per_thread);
    EXPECT_EQ(failed.load(), 0) << (errors.empty() ? "" : errors.front());
    EXPECT_LT(done_at_kill, threads * per_thread) << "some requests ran after the kill";
    EXPECT_TRUE(eventually([&] { return env.metric(R"(swapgate_cache_store_up{store="redis"})") == 0; }, 5s));
    auto m = env.metrics();
    EXPECT_GT(metric(m, R"(swapgate_cache_store_errors_total{op="get"})") +
                  metric(m, R"(swapgate_cache_store_errors_total{op="set"})"),
              0)
        << m;
    // While Redis is down: answered, never from the cache.
    std::string x = det_body("m", "after the restart");
    expect_chat(env, x, "miss", 1);
    expect_chat(env, x, "miss", 1);

    env.redis->restart();
    ASSERT_TRUE(eventually([&] { return env.metric(R"(swapgate_cache_store_up{store="redis"})") == 1; }, 15s));
    bool hit = eventually(
        [&] {
            env.chat(x);
            return env.chat(x).header(hdr) == "hit";
        },
        10s);
    EXPECT_TRUE(hit) << "the cache works again after Redis came back";
    expect_chat(env, x, "hit", 0);
}

TEST(Cache, SlowRedisIsAMissWithinTheRedisTimeout) {
    cache_env env({.redis_timeout = "50ms"});
    std::string body = det_body("m", "slow redis");
    store(env, body);
    expect_chat(env, body, "hit", 0);
    // Redis stops answering every client for 1.5 s: lookups time out (50 ms) and miss.
    ASSERT_EQ(redis_inline(env.redis->port(), "CLIENT PAUSE 1500 ALL"), "+OK");
    auto t0 = std::chrono::steady_clock::now();
    auto r = expect_chat(env, body, "miss", 1);
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 1200ms) << "the request waited for the paused Redis";
    // Once Redis answers again, the entry is served again.
    EXPECT_TRUE(eventually([&] { return env.chat(body).header(hdr) == "hit"; }, 10s));
}

TEST(Cache, RedisDownAtStartIsAMissNotAnError) {
    redis_server redis;
    std::string url = redis.url();
    redis.stop();
    cache_env env({.redis_url = url, .redis_timeout = "50ms"});
    http_client h(env.proxy->port());
    EXPECT_EQ(h.request("GET", "/readyz").status, 200);
    std::string body = det_body("m", "no redis yet");
    expect_chat(env, body, "miss", 1);
    expect_chat(env, body, "miss", 1);
    auto s = expect_chat(env, det_body("m", "no redis yet", R"("stream":true)"), "miss", 1);
    EXPECT_TRUE(parse_stream(s.body).done);
    EXPECT_EQ(env.metric(R"(swapgate_cache_store_up{store="redis"})"), 0);
    // Redis appears later: the cache starts working without a restart of swapgate.
    redis.restart();
    ASSERT_TRUE(eventually([&] { return env.metric(R"(swapgate_cache_store_up{store="redis"})") == 1; }, 15s));
    bool hit = eventually(
        [&] {
            env.chat(body);
            return env.chat(body).header(hdr) == "hit";
        },
        10s);
    EXPECT_TRUE(hit);
}

}  // namespace
}  // namespace swapgate::test::cache
