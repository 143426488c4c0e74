// Model residency in swapgate-sim: loading, on-demand loads, Ollama load/unload,
// the memory budget, vLLM sleep mode.
#include <gtest/gtest.h>

#include "sim_helpers.hpp"

using namespace swapgate::sim_test;
using swapgate::test::http_client;

namespace {
const json loading_body = json::parse(R"({"error":{"code":503,"message":"Loading model","type":"unavailable_error"}})");
}

TEST(SimResidency, ServiceUnavailableWhileLoading) {
    auto sim = start_sim({"--model", "m,load_ms=400"});
    auto h = call(sim->port(), "GET", "/health");
    EXPECT_EQ(h.status, 503);
    EXPECT_EQ(h.body, loading_body);
    auto r = call(sim->port(), "POST", "/v1/chat/completions", chat("x"));
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body, loading_body);
    EXPECT_EQ(call(sim->port(), "POST", "/v1/embeddings", json{{"input", "x"}}).status, 503);
    ASSERT_TRUE(eventually([&] { return call(sim->port(), "GET", "/health").status == 200; }, 3s));
    EXPECT_EQ(call(sim->port(), "POST", "/v1/chat/completions", chat("x")).status, 200);
}

TEST(SimResidency, OnDemandLoadWaits) {
    auto sim = start_sim({"--model", "m,loaded=0,load_ms=300"});
    EXPECT_EQ(call(sim->port(), "GET", "/health").status, 200);
    EXPECT_EQ(stats(sim->port())["per_model"]["m"]["state"], "unloaded");
    auto start = std::chrono::steady_clock::now();
    auto r = call(sim->port(), "POST", "/v1/chat/completions", chat("x"));
    EXPECT_EQ(r.status, 200);
    EXPECT_GE(ms_since(start), 290);
    auto s = stats(sim->port());
    EXPECT_EQ(s["loads"], 1);
    EXPECT_EQ(s["per_model"]["m"]["state"], "loaded");
}

TEST(SimResidency, OllamaLoadUnloadPsAndMemory) {
    auto sim = start_sim({"--memory-mb", "1500", "--model", "a,loaded=0,load_ms=100", "--model", "b,loaded=0"});
    int port = sim->port();
    EXPECT_EQ(call(port, "GET", "/api/ps").body, json({{"models", json::array()}}));
    auto tags = call(port, "GET", "/api/tags");
    EXPECT_EQ(tags.body["models"].size(), 2u);
    EXPECT_TRUE(call(port, "GET", "/api/version").body["version"].is_string());

    auto start = std::chrono::steady_clock::now();
    auto load = call(port, "POST", "/api/generate", json{{"model", "a"}});
    ASSERT_EQ(load.status, 200) << load.raw;
    EXPECT_GE(ms_since(start), 90);
    EXPECT_EQ(load.body["model"], "a");
    EXPECT_EQ(load.body["response"], "");
    EXPECT_EQ(load.body["done"], true);
    EXPECT_EQ(load.body["done_reason"], "load");
    EXPECT_TRUE(load.body["created_at"].is_string());

    auto ps = call(port, "GET", "/api/ps").body["models"];
    ASSERT_EQ(ps.size(), 1u);
    EXPECT_EQ(ps[0]["name"], "a");
    EXPECT_EQ(ps[0]["size"], 1000LL * 1048576);
    EXPECT_EQ(ps[0]["size_vram"], 1000LL * 1048576);

    // b does not fit next to a: refused, a stays
    auto refused = call(port, "POST", "/api/generate", json{{"model", "b"}, {"prompt", ""}});
    EXPECT_EQ(refused.status, 507);
    EXPECT_EQ(refused.body["error"]["code"], "insufficient_memory");
    auto via_chat = call(port, "POST", "/v1/chat/completions", chat("x", {{"model", "b"}}));
    EXPECT_EQ(via_chat.status, 507);
    EXPECT_EQ(call(port, "GET", "/api/ps").body["models"].size(), 1u);

    auto unload = call(port, "POST", "/api/generate", json{{"model", "a"}, {"keep_alive", 0}});
    ASSERT_EQ(unload.status, 200);
    EXPECT_EQ(unload.body["done_reason"], "unload");
    EXPECT_EQ(call(port, "GET", "/api/ps").body["models"].size(), 0u);

    auto chat_load = call(port, "POST", "/api/chat", json{{"model", "b"}, {"messages", json::array()}});
    ASSERT_EQ(chat_load.status, 200);
    EXPECT_EQ(chat_load.body["done_reason"], "load");
    EXPECT_EQ(chat_load.body["message"]["role"], "assistant");
    EXPECT_EQ(call(port, "GET", "/api/ps").body["models"][0]["name"], "b");
    auto unload_b = call(port, "POST", "/api/generate", json{{"model", "b"}, {"keep_alive", "0s"}});
    EXPECT_EQ(unload_b.body["done_reason"], "unload");
    auto s = stats(port);
    EXPECT_EQ(s["loads"], 2);
    EXPECT_EQ(s["unloads"], 2);
    EXPECT_EQ(s["memory_used_mb"], 0);
    EXPECT_EQ(call(port, "POST", "/api/generate", json{{"model", "nope"}}).status, 404);
}

TEST(SimResidency, UnloadedLlamaStyleModelAnswers503) {
    auto sim = start_sim({"--model", "a", "--model", "b"});
    ASSERT_TRUE(eventually([&] { return call(sim->port(), "GET", "/health").status == 200; }, 3s));
    call(sim->port(), "POST", "/api/generate", json{{"model", "a"}, {"keep_alive", 0}});
    auto r = call(sim->port(), "POST", "/v1/chat/completions", chat("x", {{"model", "a"}}));
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body["error"]["type"], "unavailable_error");
    EXPECT_EQ(call(sim->port(), "POST", "/v1/chat/completions", chat("x", {{"model", "b"}})).status, 200);
}

TEST(SimResidency, VllmSleepAndWake) {
    auto sim = start_sim({"--memory-mb", "1000", "--model", "a,sleep_ms=100,wake_ms=150", "--model", "b,loaded=0"});
    int port = sim->port();
    ASSERT_TRUE(eventually([&] { return call(port, "GET", "/health").status == 200; }, 3s));
    EXPECT_EQ(call(port, "GET", "/is_sleeping").body, json({{"is_sleeping", false}}));

    auto start = std::chrono::steady_clock::now();
    auto slept = call(port, "POST", "/sleep?level=1");
    EXPECT_EQ(slept.status, 200);
    EXPECT_EQ(slept.raw, "");
    EXPECT_GE(ms_since(start), 90);
    EXPECT_EQ(call(port, "GET", "/is_sleeping").body, json({{"is_sleeping", true}}));
    EXPECT_EQ(call(port, "POST", "/v1/chat/completions", chat("x", {{"model", "a"}})).status, 503);
    EXPECT_EQ(stats(port)["memory_used_mb"], 0);

    // the freed memory can host b; then a cannot wake
    EXPECT_EQ(call(port, "POST", "/api/generate", json{{"model", "b"}}).status, 200);
    auto refused = call(port, "POST", "/wake_up");
    EXPECT_EQ(refused.status, 507);
    EXPECT_EQ(refused.body["error"]["code"], "insufficient_memory");
    call(port, "POST", "/api/generate", json{{"model", "b"}, {"keep_alive", 0}});

    start = std::chrono::steady_clock::now();
    EXPECT_EQ(call(port, "POST", "/wake_up?model=a").status, 200);
    EXPECT_GE(ms_since(start), 140);
    EXPECT_EQ(call(port, "GET", "/is_sleeping?model=a").body["is_sleeping"], false);
    EXPECT_EQ(call(port, "POST", "/v1/chat/completions", chat("x", {{"model", "a"}})).status, 200);
    EXPECT_EQ(call(port, "POST", "/sleep?level=3").status, 400);
    EXPECT_EQ(call(port, "GET", "/is_sleeping?model=zzz").status, 404);
}

TEST(SimResidency, ConfigFile) {
    std::string dir = swapgate::test::temp_dir();
    swapgate::test::write_file(dir + "/sim.yaml",
                               "memory_mb: 500\nmodels:\n  - {name: small, memory_mb: 400}\n  - {name: big, memory_mb: 400, loaded: 0}\n");
    auto sim = start_sim({"--config", dir + "/sim.yaml"});
    ASSERT_TRUE(eventually([&] { return call(sim->port(), "GET", "/health").status == 200; }, 3s));
    auto s = stats(sim->port());
    EXPECT_EQ(s["memory_mb"], 500);
    EXPECT_EQ(s["per_model"]["small"]["state"], "loaded");
    EXPECT_EQ(call(sim->port(), "POST", "/v1/chat/completions", chat("x", {{"model", "big"}})).status, 507);
}
