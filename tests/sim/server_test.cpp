// swapgate-sim endpoints over real loopback: wire format, streaming, keep-alive, TLS.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "sim_helpers.hpp"

using namespace swapgate::sim_test;
using swapgate::test::http_client;

namespace {

std::string content_of(const std::vector<json>& events) {
    std::string text;
    for (const auto& e : events)
        if (e.is_object() && !e["choices"].empty() && e["choices"][0]["delta"].contains("content") &&
            e["choices"][0]["delta"]["content"].is_string())
            text += e["choices"][0]["delta"]["content"].get<std::string>();
    return text;
}

}  // namespace

TEST(SimServer, ListeningAndHealth) {
    auto sim = start_sim();
    ASSERT_GT(sim->port(), 0);
    auto h = call(sim->port(), "GET", "/health");
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.body, json({{"status", "ok"}}));
    auto m = call(sim->port(), "GET", "/v1/models");
    ASSERT_EQ(m.status, 200);
    EXPECT_EQ(m.body["object"], "list");
    EXPECT_EQ(m.body["data"][0]["id"], "sim");
    EXPECT_EQ(call(sim->port(), "GET", "/nope").status, 404);
}

TEST(SimServer, ChatNonStream) {
    auto sim = start_sim();
    auto r = call(sim->port(), "POST", "/v1/chat/completions", chat("hello there", {{"model", "whatever-name"}}));
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.http.header("content-type"), "application/json");
    const json& b = r.body;
    EXPECT_EQ(b["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
    EXPECT_EQ(b["object"], "chat.completion");
    EXPECT_TRUE(b["created"].is_number_integer());
    EXPECT_EQ(b["model"], "whatever-name");  // one model: any name accepted and echoed
    EXPECT_TRUE(b["system_fingerprint"].is_string());
    EXPECT_EQ(b["choices"][0]["index"], 0);
    EXPECT_EQ(b["choices"][0]["message"]["role"], "assistant");
    EXPECT_TRUE(b["choices"][0]["message"]["content"].is_string());
    EXPECT_TRUE(b["choices"][0]["logprobs"].is_null());
    EXPECT_EQ(b["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(b["usage"]["prompt_tokens"], 2 + 4);
    EXPECT_EQ(b["usage"]["total_tokens"], b["usage"]["prompt_tokens"].get<int>() + b["usage"]["completion_tokens"].get<int>());
    // deterministic: same request, same text; another seed, another text
    auto again = call(sim->port(), "POST", "/v1/chat/completions", chat("hello there", {{"model", "whatever-name"}}));
    EXPECT_EQ(again.body["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]);
    EXPECT_NE(again.body["id"], b["id"]);
    auto seeded = call(sim->port(), "POST", "/v1/chat/completions",
                       chat("hello there", {{"model", "whatever-name"}, {"seed", 42}}));
    EXPECT_NE(seeded.body["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]);
}

TEST(SimServer, ChatStreamFraming) {
    auto sim = start_sim();
    swapgate::test::http_response head;
    auto body = chat("stream me", {{"stream", true}, {"sim", {{"tokens", 5}}}});
    auto ev = stream(sim->port(), "/v1/chat/completions", body, &head);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("content-type"), "text/event-stream");
    EXPECT_EQ(head.header("transfer-encoding"), "chunked");
    // role, 5 tokens, finish, [DONE]; no usage chunk without include_usage
    ASSERT_EQ(ev.size(), 1u + 5u + 1u + 1u);
    EXPECT_EQ(ev[0]["object"], "chat.completion.chunk");
    EXPECT_EQ(ev[0]["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
    for (size_t i = 1; i <= 5; ++i) {
        auto d = ev[i]["choices"][0]["delta"];
        EXPECT_EQ(d.size(), 1u);
        EXPECT_EQ(d["content"].get<std::string>()[0], ' ');
        EXPECT_TRUE(ev[i]["choices"][0]["finish_reason"].is_null());
        EXPECT_FALSE(ev[i].contains("usage"));
        EXPECT_EQ(ev[i]["id"], ev[0]["id"]);
    }
    EXPECT_EQ(ev[6]["choices"][0]["delta"], json::object());
    EXPECT_EQ(ev[6]["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(ev[7], "[DONE]");
    // the streamed text equals the non-streamed one
    body["stream"] = false;
    auto whole = call(sim->port(), "POST", "/v1/chat/completions", body);
    EXPECT_EQ(content_of(ev), whole.body["choices"][0]["message"]["content"]);
}

TEST(SimServer, ChatStreamUsage) {
    auto sim = start_sim();
    auto ev = stream(sim->port(), "/v1/chat/completions",
                     chat("x", {{"stream", true}, {"max_tokens", 4}, {"stream_options", {{"include_usage", true}}}}));
    ASSERT_EQ(ev.size(), 1u + 4u + 1u + 1u + 1u);
    for (size_t i = 0; i < 6; ++i) {
        ASSERT_TRUE(ev[i].contains("usage"));
        EXPECT_TRUE(ev[i]["usage"].is_null());
    }
    EXPECT_EQ(ev[5]["choices"][0]["finish_reason"], "length");
    EXPECT_TRUE(ev[6]["choices"].is_array() && ev[6]["choices"].empty());
    EXPECT_EQ(ev[6]["usage"]["completion_tokens"], 4);
    EXPECT_EQ(ev[6]["usage"]["prompt_tokens"], 5);
    EXPECT_EQ(ev[7], "[DONE]");
}

TEST(SimServer, EachTokenIsFlushedSeparately) {
    auto sim = start_sim();
    http_client c(sim->port());
    c.send("POST", "/v1/chat/completions",
           chat("x", {{"stream", true}, {"sim", {{"tokens", 4}, {"token_delay_ms", 60}, {"ttft_ms", 300}}}}).dump());
    auto start = std::chrono::steady_clock::now();
    auto head = c.read_head();
    EXPECT_EQ(head.status, 200);
    EXPECT_LT(ms_since(start), 200);  // headers and the role chunk come before the first token
    auto role = c.read_chunk();
    ASSERT_TRUE(role);
    EXPECT_NE(role->find("\"role\""), std::string::npos);
    std::vector<long long> at;
    for (int i = 0; i < 4; ++i) {
        auto chunk = c.read_chunk();
        ASSERT_TRUE(chunk);
        EXPECT_NE(chunk->find("\"content\""), std::string::npos);
        at.push_back(ms_since(start));
    }
    EXPECT_GE(at[0], 290);
    for (int i = 1; i < 4; ++i) EXPECT_GE(at[i] - at[i - 1], 40) << i;
}

TEST(SimServer, ToolCallNonStreamAndStream) {
    auto sim = start_sim();
    json tools = json::array({{{"type", "function"},
                               {"function",
                                {{"name", "get_weather"},
                                 {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}}});
    auto body = chat("weather in Paris?", {{"tools", tools}});
    auto r = call(sim->port(), "POST", "/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200);
    auto msg = r.body["choices"][0]["message"];
    EXPECT_TRUE(msg["content"].is_null());
    EXPECT_EQ(r.body["choices"][0]["finish_reason"], "tool_calls");
    auto call0 = msg["tool_calls"][0];
    EXPECT_EQ(call0["type"], "function");
    EXPECT_EQ(call0["function"]["name"], "get_weather");
    EXPECT_EQ(call0["id"].get<std::string>().rfind("call_", 0), 0u);
    json args = json::parse(call0["function"]["arguments"].get<std::string>());
    EXPECT_TRUE(args["city"].is_string());

    body["stream"] = true;
    auto ev = stream(sim->port(), "/v1/chat/completions", body);
    ASSERT_GE(ev.size(), 4u);
    auto first = ev[0]["choices"][0]["delta"];
    EXPECT_EQ(first["role"], "assistant");
    EXPECT_TRUE(first["content"].is_null());
    EXPECT_EQ(first["tool_calls"][0]["index"], 0);
    EXPECT_EQ(first["tool_calls"][0]["id"], call0["id"]);
    EXPECT_EQ(first["tool_calls"][0]["type"], "function");
    EXPECT_EQ(first["tool_calls"][0]["function"]["name"], "get_weather");
    EXPECT_EQ(first["tool_calls"][0]["function"]["arguments"], "");
    std::string joined;
    size_t i = 1;
    for (; i < ev.size() && ev[i].is_object() && ev[i]["choices"][0]["finish_reason"].is_null(); ++i) {
        auto tc = ev[i]["choices"][0]["delta"]["tool_calls"][0];
        EXPECT_EQ(tc["index"], 0);
        EXPECT_FALSE(tc.contains("id"));
        joined += tc["function"]["arguments"].get<std::string>();
    }
    EXPECT_EQ(joined, call0["function"]["arguments"]);
    ASSERT_LT(i + 1, ev.size());
    EXPECT_EQ(ev[i]["choices"][0]["finish_reason"], "tool_calls");
    EXPECT_EQ(ev[i + 1], "[DONE]");
}

TEST(SimServer, ReasoningContent) {
    auto sim = start_sim();
    auto body = chat("think first", {{"sim", {{"reasoning_tokens", 3}, {"tokens", 2}}}});
    auto r = call(sim->port(), "POST", "/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200);
    EXPECT_TRUE(r.body["choices"][0]["message"]["reasoning_content"].is_string());
    EXPECT_EQ(r.body["usage"]["completion_tokens"], 5);
    body["stream"] = true;
    auto ev = stream(sim->port(), "/v1/chat/completions", body);
    ASSERT_EQ(ev.size(), 1u + 3u + 2u + 1u + 1u);
    for (size_t i = 1; i <= 3; ++i) EXPECT_TRUE(ev[i]["choices"][0]["delta"].contains("reasoning_content"));
    for (size_t i = 4; i <= 5; ++i) EXPECT_TRUE(ev[i]["choices"][0]["delta"].contains("content"));
    std::string reasoning;
    for (size_t i = 1; i <= 3; ++i) reasoning += ev[i]["choices"][0]["delta"]["reasoning_content"].get<std::string>();
    EXPECT_EQ(reasoning, r.body["choices"][0]["message"]["reasoning_content"]);
}

TEST(SimServer, TextCompletions) {
    auto sim = start_sim();
    json body = {{"model", "sim"}, {"prompt", "once upon a time"}, {"max_tokens", 6}};
    auto r = call(sim->port(), "POST", "/v1/completions", body);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body["object"], "text_completion");
    EXPECT_EQ(r.body["id"].get<std::string>().rfind("cmpl-", 0), 0u);
    EXPECT_EQ(r.body["choices"][0]["finish_reason"], "length");
    EXPECT_TRUE(r.body["choices"][0]["logprobs"].is_null());
    EXPECT_EQ(r.body["usage"]["prompt_tokens"], 4);
    body["stream"] = true;
    auto ev = stream(sim->port(), "/v1/completions", body);
    ASSERT_EQ(ev.size(), 6u + 1u + 1u);
    std::string text;
    for (size_t i = 0; i < 6; ++i) text += ev[i]["choices"][0]["text"].get<std::string>();
    EXPECT_EQ(text, r.body["choices"][0]["text"]);
    EXPECT_EQ(ev[6]["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(call(sim->port(), "POST", "/v1/completions", json{{"model", "sim"}}).body["error"]["param"], "prompt");
}

TEST(SimServer, Embeddings) {
    auto sim = start_sim({"--model", "emb,dims=64"});
    auto r = call(sim->port(), "POST", "/v1/embeddings",
                  json{{"model", "emb"}, {"input", {"the cat sat", "The cat sat!", "stock prices fell"}}});
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body["object"], "list");
    ASSERT_EQ(r.body["data"].size(), 3u);
    EXPECT_EQ(r.body["data"][2]["index"], 2);
    EXPECT_EQ(r.body["data"][0]["object"], "embedding");
    EXPECT_EQ(r.body["data"][0]["embedding"].size(), 64u);
    EXPECT_EQ(r.body["data"][0]["embedding"], r.body["data"][1]["embedding"]);
    EXPECT_EQ(r.body["usage"]["prompt_tokens"], 9);
    auto b = call(sim->port(), "POST", "/v1/embeddings", json{{"input", "x y"}, {"encoding_format", "base64"}});
    ASSERT_EQ(b.status, 200);
    EXPECT_EQ(b.body["data"][0]["embedding"].get<std::string>().size(), (64u * 4 + 2) / 3 * 4);
    auto t = call(sim->port(), "POST", "/v1/embeddings", json{{"input", {{1, 2}, {3}}}});
    ASSERT_EQ(t.status, 200);
    EXPECT_EQ(t.body["data"].size(), 2u);
    auto e = call(sim->port(), "POST", "/v1/embeddings", json{{"model", "emb"}});
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.body["error"]["param"], "input");
}

TEST(SimServer, EmbeddingCostIsCallPlusItems) {
    auto sim = start_sim({"--model", "e,embed_call_ms=100,embed_item_ms=20"});
    auto start = std::chrono::steady_clock::now();
    auto r = call(sim->port(), "POST", "/v1/embeddings", json{{"input", {"a", "b", "c", "d", "e"}}});
    ASSERT_EQ(r.status, 200);
    auto took = ms_since(start);
    EXPECT_GE(took, 195);
    EXPECT_LT(took, 1500);
}

TEST(SimServer, ModelSelectionWithSeveralModels) {
    auto sim = start_sim({"--model", "a", "--model", "b"});
    auto r = call(sim->port(), "POST", "/v1/chat/completions", chat("x", {{"model", "b"}}));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body["model"], "b");
    auto missing = call(sim->port(), "POST", "/v1/chat/completions", chat("x", {{"model", "zzz"}}));
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.body, json::parse(R"({"error":{"message":"model 'zzz' not found","type":"invalid_request_error",
                                          "param":"model","code":"model_not_found"}})"));
    auto models = call(sim->port(), "GET", "/v1/models");
    EXPECT_EQ(models.body["data"].size(), 2u);
}

TEST(SimServer, BadRequests) {
    auto sim = start_sim();
    auto bad = call(sim->port(), "POST", "/v1/chat/completions", json("{not json"));
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(bad.body["error"]["type"], "invalid_request_error");
    auto missing = call(sim->port(), "POST", "/v1/chat/completions", json{{"model", "sim"}});
    EXPECT_EQ(missing.status, 400);
    EXPECT_EQ(missing.body["error"]["param"], "messages");
    // a header over 16 KiB
    http_client c(sim->port());
    auto huge = c.request("GET", "/health", {}, {{"X-Big", std::string(20000, 'a')}});
    EXPECT_EQ(huge.status, 431);
    // garbage on the wire: an error, never a crash
    http_client g(sim->port());
    g.send_raw("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_TRUE(g.wait_closed(2s));
    EXPECT_EQ(call(sim->port(), "GET", "/health").status, 200);
}

TEST(SimServer, KeepAliveAndConnectionClose) {
    auto sim = start_sim();
    http_client c(sim->port());
    for (int i = 0; i < 5; ++i) {
        auto r = c.request("POST", "/v1/chat/completions", chat("n" + std::to_string(i)).dump());
        EXPECT_EQ(r.status, 200);
    }
    auto s = stats(sim->port());
    EXPECT_EQ(s["connections_accepted"], 2);  // the loop above, then this stats call
    auto last = c.request("GET", "/health", {}, {{"Connection", "close"}});
    EXPECT_EQ(last.status, 200);
    EXPECT_EQ(last.header("connection"), "close");
    EXPECT_TRUE(c.wait_closed(2s));
}

TEST(SimServer, SlotsQueueFifo) {
    auto sim = start_sim({"--model", "m,slots=1,ttft_ms=200"});
    auto start = std::chrono::steady_clock::now();
    http_client a(sim->port()), b(sim->port());
    a.send("POST", "/v1/chat/completions", chat("a").dump());
    b.send("POST", "/v1/chat/completions", chat("b").dump());
    EXPECT_EQ(a.read_head().status, 200);
    EXPECT_EQ(b.read_head().status, 200);
    EXPECT_GE(ms_since(start), 390);
}

TEST(SimServer, Tls) {
    if (std::system("command -v openssl >/dev/null 2>&1 && command -v curl >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "openssl or curl not installed";
    std::string dir = swapgate::test::temp_dir();
    std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " + dir +
                      "/key.pem -out " + dir + "/cert.pem >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    auto sim = start_sim({"--tls-cert", dir + "/cert.pem", "--tls-key", dir + "/key.pem"});
    std::string out = dir + "/out.txt";
    std::string curl = "curl -sk --max-time 10 -o " + out + " https://127.0.0.1:" + std::to_string(sim->port()) +
                       "/v1/chat/completions -H 'Content-Type: application/json' -d '" +
                       chat("hi", {{"stream", true}}).dump() + "'";
    ASSERT_EQ(std::system(curl.c_str()), 0);
    std::ifstream in(out);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NE(text.find("data: [DONE]"), std::string::npos) << text;
    // a client that never finishes the handshake does not hurt others
    http_client idle(sim->port());
    std::string health = "curl -sk --max-time 10 https://127.0.0.1:" + std::to_string(sim->port()) + "/health >/dev/null";
    EXPECT_EQ(std::system(health.c_str()), 0);
}
