// Pure logic of swapgate-sim: spec parsing, deterministic replies, embeddings, wire format.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "bench/sim/embed.hpp"
#include "bench/sim/generate.hpp"
#include "bench/sim/model_spec.hpp"
#include "bench/sim/request.hpp"
#include "bench/sim/wire.hpp"

using namespace swapgate::sim;
using json = nlohmann::json;

namespace {

gen_request chat_request(const json& body) {
    request_error err;
    auto r = parse_gen_request(body.dump(), endpoint::chat, err);
    EXPECT_TRUE(r.has_value()) << err.message;
    return r.value_or(gen_request{});
}

json user(const std::string& text) { return json::array({{{"role", "user"}, {"content", text}}}); }

std::string reply_text(const json& body, std::string_view model = "m") {
    auto r = chat_request(body);
    return join(plan_reply(model, r, 0).content);
}

std::vector<uint8_t> base64_decode(const std::string& s) {
    static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::vector<uint8_t> out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : s) {
        if (c == '=') break;
        acc = (acc << 6) | static_cast<uint32_t>(alphabet.find(c));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
        }
    }
    return out;
}

}  // namespace

TEST(SimSpec, Defaults) {
    auto m = parse_model_spec("sim");
    ASSERT_TRUE(m) << m.error;
    EXPECT_EQ(m.value.name, "sim");
    EXPECT_EQ(m.value.slots, 4);
    EXPECT_EQ(m.value.memory_mb, 1000);
    EXPECT_EQ(m.value.dims, 256);
    EXPECT_TRUE(m.value.loaded);
    EXPECT_EQ(m.value.sleep_ms, 50);
    EXPECT_EQ(m.value.wake_ms, 50);
}

TEST(SimSpec, AllKeys) {
    auto m = parse_model_spec(
        "qwen,load_ms=100,ttft_ms=20,tps=12.5,slots=2,embed_call_ms=3,embed_item_ms=1,memory_mb=4000,dims=64,"
        "loaded=0,reply_tokens=7,sleep_ms=5,wake_ms=6");
    ASSERT_TRUE(m) << m.error;
    EXPECT_EQ(m.value.name, "qwen");
    EXPECT_EQ(m.value.load_ms, 100);
    EXPECT_EQ(m.value.ttft_ms, 20);
    EXPECT_DOUBLE_EQ(m.value.tps, 12.5);
    EXPECT_EQ(m.value.slots, 2);
    EXPECT_EQ(m.value.embed_call_ms, 3);
    EXPECT_EQ(m.value.embed_item_ms, 1);
    EXPECT_EQ(m.value.memory_mb, 4000);
    EXPECT_EQ(m.value.dims, 64);
    EXPECT_FALSE(m.value.loaded);
    EXPECT_EQ(m.value.reply_tokens, 7);
    EXPECT_EQ(m.value.sleep_ms, 5);
    EXPECT_EQ(m.value.wake_ms, 6);
    // Embedding costs take fractions of a millisecond (5 ms + 0.2 ms per input).
    auto f = parse_model_spec("e,embed_call_ms=5,embed_item_ms=0.2");
    ASSERT_TRUE(f) << f.error;
    EXPECT_DOUBLE_EQ(f.value.embed_item_ms, 0.2);
    EXPECT_FALSE(parse_model_spec("e,embed_item_ms=-0.5"));
    EXPECT_FALSE(parse_model_spec("e,embed_item_ms=fast"));
}

TEST(SimSpec, Errors) {
    EXPECT_FALSE(parse_model_spec("a,bogus=1"));
    EXPECT_FALSE(parse_model_spec("a,slots=x"));
    EXPECT_FALSE(parse_model_spec("a,slots"));
    EXPECT_FALSE(parse_model_spec("a,slots=0"));
    EXPECT_FALSE(parse_model_spec(",slots=1"));
    EXPECT_NE(parse_model_spec("a,bogus=1").error.find("bogus"), std::string::npos);
}

TEST(SimSpec, ArgsDefaultsAndErrors) {
    auto o = parse_args({});
    ASSERT_TRUE(o) << o.error;
    EXPECT_EQ(o.value.host, "127.0.0.1");
    EXPECT_EQ(o.value.port, 8090);
    ASSERT_EQ(o.value.models.size(), 1u);
    EXPECT_EQ(o.value.models[0].name, "sim");
    EXPECT_EQ(o.value.threads, 1);

    auto p = parse_args({"--listen", "0.0.0.0:0", "--model", "a", "--model", "b,slots=1", "--memory-mb", "1500",
                         "--threads", "2", "--fail-nth", "3", "--fail-status", "429", "--quiet"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value.host, "0.0.0.0");
    EXPECT_EQ(p.value.port, 0);
    ASSERT_EQ(p.value.models.size(), 2u);
    EXPECT_EQ(p.value.models[1].slots, 1);
    EXPECT_EQ(p.value.memory_mb, 1500);
    EXPECT_EQ(p.value.fail_nth, 3u);
    EXPECT_EQ(p.value.fail_status, 429);
    EXPECT_TRUE(p.value.quiet);

    EXPECT_FALSE(parse_args({"--model", "a", "--model", "a"}));
    EXPECT_FALSE(parse_args({"--listen", "nohost"}));
    EXPECT_FALSE(parse_args({"--tls-cert", "x"}));
    EXPECT_FALSE(parse_args({"--what"}));
}

TEST(SimSpec, YamlConfig) {
    sim_options o;
    auto e = apply_yaml_config("listen: 127.0.0.1:9000\nmemory_mb: 3000\nmodels:\n"
                               "  - {name: a, load_ms: 100, tps: 20}\n  - name: b\n    loaded: false\n",
                               o, {});
    ASSERT_EQ(e, "");
    EXPECT_EQ(o.port, 9000);
    EXPECT_EQ(o.memory_mb, 3000);
    ASSERT_EQ(o.models.size(), 2u);
    EXPECT_EQ(o.models[0].load_ms, 100);
    EXPECT_DOUBLE_EQ(o.models[0].tps, 20);
    EXPECT_FALSE(o.models[1].loaded);

    sim_options cli;
    cli.port = 1234;
    cli.memory_mb = 10;
    ASSERT_EQ(apply_yaml_config("listen: 127.0.0.1:9000\nmemory_mb: 3000\n", cli, {true, true}), "");
    EXPECT_EQ(cli.port, 1234);
    EXPECT_EQ(cli.memory_mb, 10);

    sim_options bad;
    EXPECT_NE(apply_yaml_config("models: [{name: a, nope: 1}]", bad, {}).find("models[0]"), std::string::npos);
    EXPECT_NE(apply_yaml_config("models: [{load_ms: 1}]", bad, {}), "");
    EXPECT_NE(apply_yaml_config("surprise: 1", bad, {}), "");
    EXPECT_NE(apply_yaml_config("models: [", bad, {}), "");
}

TEST(SimGenerate, VocabularyIsWordsWithLeadingSpace) {
    auto v = vocabulary();
    EXPECT_GE(v.size(), 200u);
    std::set<std::string_view> unique(v.begin(), v.end());
    EXPECT_EQ(unique.size(), v.size());
    for (auto w : v) {
        ASSERT_GE(w.size(), 2u);
        EXPECT_EQ(w[0], ' ');
        EXPECT_EQ(w.find(' ', 1), std::string_view::npos);
    }
}

TEST(SimGenerate, Deterministic) {
    json a = {{"messages", user("tell me about rivers")}};
    EXPECT_EQ(reply_text(a), reply_text(a));
    // canonical: key order and whitespace of the input do not matter
    request_error err;
    auto r1 = parse_gen_request(R"({"messages":[{"role":"user","content":"x y"}]})", endpoint::chat, err);
    auto r2 = parse_gen_request(R"({ "messages" : [ { "content":"x y", "role":"user" } ] })", endpoint::chat, err);
    ASSERT_TRUE(r1 && r2);
    EXPECT_EQ(reply_hash("m", *r1), reply_hash("m", *r2));
}

TEST(SimGenerate, InputsChangeTheReply) {
    json base = {{"messages", user("tell me about rivers")}};
    std::string text = reply_text(base);
    json seeded = base;
    seeded["seed"] = 7;
    EXPECT_NE(reply_text(seeded), text);
    json seeded2 = base;
    seeded2["seed"] = 8;
    EXPECT_NE(reply_text(seeded2), reply_text(seeded));
    EXPECT_NE(reply_text({{"messages", user("tell me about lakes")}}), text);
    EXPECT_NE(reply_text(base, "other-model"), text);
    json limited = base;
    limited["max_tokens"] = 1000;
    EXPECT_NE(reply_text(limited), text);
}

TEST(SimGenerate, LengthRules) {
    for (int i = 0; i < 50; ++i) {
        auto r = chat_request({{"messages", user("q" + std::to_string(i))}});
        auto p = plan_reply("m", r, 0);
        EXPECT_GE(p.content.size(), 8u);
        EXPECT_LE(p.content.size(), 31u);
        EXPECT_EQ(p.finish_reason, "stop");
        EXPECT_EQ(p.completion_tokens, static_cast<int64_t>(p.content.size()));
    }
    auto r = chat_request({{"messages", user("hello")}});
    EXPECT_EQ(plan_reply("m", r, 5).content.size(), 5u);

    auto lim = chat_request({{"messages", user("hello")}, {"max_tokens", 3}});
    auto p = plan_reply("m", lim, 0);
    EXPECT_EQ(p.content.size(), 3u);
    EXPECT_EQ(p.finish_reason, "length");

    auto lim2 = chat_request({{"messages", user("hello")}, {"max_completion_tokens", 2}});
    EXPECT_EQ(plan_reply("m", lim2, 0).content.size(), 2u);

    auto forced = chat_request({{"messages", user("hello")}, {"sim", {{"tokens", 40}}}});
    EXPECT_EQ(plan_reply("m", forced, 0).content.size(), 40u);
    EXPECT_EQ(plan_reply("m", forced, 0).finish_reason, "stop");
}

TEST(SimGenerate, PromptTokens) {
    json messages = json::array({{{"role", "system"}, {"content", "be brief"}},
                                 {{"role", "user"}, {"content", "  one two\nthree  "}},
                                 {{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "a b"}}})}}});
    auto r = chat_request({{"messages", messages}});
    EXPECT_EQ(r.prompt_tokens, 2 + 3 + 2 + 3 * 4);
    request_error err;
    auto c = parse_gen_request(R"({"prompt":"one two three"})", endpoint::completion, err);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->prompt_tokens, 3);
}

TEST(SimGenerate, ReasoningTokens) {
    auto r = chat_request({{"messages", user("think")}, {"sim", {{"reasoning_tokens", 5}}}});
    auto p = plan_reply("m", r, 0);
    EXPECT_EQ(p.reasoning.size(), 5u);
    EXPECT_EQ(p.completion_tokens, static_cast<int64_t>(5 + p.content.size()));
    // the visible reply does not depend on how long the model thought
    auto plain = chat_request({{"messages", user("think")}});
    EXPECT_EQ(join(plan_reply("m", plain, 0).content), join(p.content));
}

TEST(SimGenerate, ToolCall) {
    json tools = json::array({{{"type", "function"},
                               {"function",
                                {{"name", "get_weather"},
                                 {"parameters",
                                  {{"type", "object"},
                                   {"properties", {{"city", {{"type", "string"}}}, {"days", {{"type", "integer"}}}}}}}}}}});
    auto r = chat_request({{"messages", user("weather?")}, {"tools", tools}});
    auto p = plan_reply("m", r, 0);
    ASSERT_TRUE(p.tool_call);
    EXPECT_EQ(p.tool_name, "get_weather");
    EXPECT_EQ(p.finish_reason, "tool_calls");
    EXPECT_EQ(p.tool_id.rfind("call_", 0), 0u);
    json args = json::parse(p.tool_args);
    EXPECT_TRUE(args["city"].is_string());
    EXPECT_TRUE(args["days"].is_number_integer());
    std::string joined;
    for (auto& f : p.arg_fragments) joined += f;
    EXPECT_EQ(joined, p.tool_args);
    EXPECT_EQ(plan_reply("m", r, 0).tool_args, p.tool_args);

    auto none = chat_request({{"messages", user("weather?")}, {"tools", tools}, {"tool_choice", "none"}});
    EXPECT_FALSE(plan_reply("m", none, 0).tool_call);
    json after = user("weather?");
    after.push_back({{"role", "tool"}, {"tool_call_id", "x"}, {"content", "sunny"}});
    auto answered = chat_request({{"messages", after}, {"tools", tools}});
    EXPECT_FALSE(plan_reply("m", answered, 0).tool_call);
}

TEST(SimRequest, Errors) {
    request_error err;
    EXPECT_FALSE(parse_gen_request("{nope", endpoint::chat, err));
    EXPECT_EQ(err.status, 400);
    EXPECT_FALSE(parse_gen_request(R"({"model":"m"})", endpoint::chat, err));
    EXPECT_EQ(err.param, "messages");
    EXPECT_FALSE(parse_gen_request(R"({"messages":[]})", endpoint::chat, err));
    EXPECT_EQ(err.param, "messages");
    EXPECT_FALSE(parse_gen_request(R"({"messages":[{"role":"user"}],"max_tokens":"x"})", endpoint::chat, err));
    EXPECT_EQ(err.param, "max_tokens");
    EXPECT_FALSE(parse_gen_request(R"({"model":"m"})", endpoint::completion, err));
    EXPECT_EQ(err.param, "prompt");
    EXPECT_FALSE(parse_embed_request(R"({"model":"m"})", err));
    EXPECT_EQ(err.param, "input");
    EXPECT_FALSE(parse_embed_request(R"({"input":[1,"a"]})", err));
    EXPECT_FALSE(parse_embed_request(R"({"input":"a","encoding_format":"hex"})", err));
    EXPECT_EQ(err.param, "encoding_format");
    EXPECT_FALSE(parse_gen_request(R"({"messages":[{"role":"user"}],"sim":{"status":"x"}})", endpoint::chat, err));
    EXPECT_EQ(err.param, "sim");
}

TEST(SimRequest, EmbeddingInputs) {
    request_error err;
    auto a = parse_embed_request(R"({"input":"hello world"})", err);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->items.size(), 1u);
    EXPECT_EQ(a->prompt_tokens, 2);
    auto b = parse_embed_request(R"({"input":["a b","c"],"encoding_format":"base64"})", err);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->items.size(), 2u);
    EXPECT_TRUE(b->base64);
    auto c = parse_embed_request(R"({"input":[1,2,3]})", err);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->items.size(), 1u);
    EXPECT_EQ(c->prompt_tokens, 3);
    auto d = parse_embed_request(R"({"input":[[1,2],[3]]})", err);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->items.size(), 2u);
    EXPECT_EQ(d->prompt_tokens, 3);
}

TEST(SimEmbed, UnitLengthAndDeterministic) {
    auto v = embed_text("The quick brown fox", 256);
    ASSERT_EQ(v.size(), 256u);
    double norm = 0;
    for (float x : v) norm += double(x) * x;
    EXPECT_NEAR(norm, 1.0, 1e-5);
    EXPECT_EQ(v, embed_text("The quick brown fox", 256));
    EXPECT_EQ(embed_text("x", 17).size(), 17u);
}

TEST(SimEmbed, CosineProperties) {
    auto a = embed_text("the cat sat on the mat by the door", 256);
    auto b = embed_text("the cat sat on the mat near the door", 256);
    auto c = embed_text("quarterly revenue grew in asian markets", 256);
    EXPECT_GT(cosine(a, b), 0.8);
    EXPECT_LT(std::abs(cosine(a, c)), 0.3);
    EXPECT_NEAR(cosine(a, a), 1.0, 1e-6);
    // case and punctuation do not matter
    EXPECT_NEAR(cosine(embed_text("Hello, World!", 256), embed_text("hello world", 256)), 1.0, 1e-6);
    // word order does not matter (bag of words)
    EXPECT_NEAR(cosine(embed_text("red green", 64), embed_text("green red", 64)), 1.0, 1e-6);
}

TEST(SimEmbed, EmptyIsFixedUnitVector) {
    auto e = embed_text("", 32);
    EXPECT_EQ(e, embed_text("  ,, ", 32));
    double norm = 0;
    for (float x : e) norm += double(x) * x;
    EXPECT_NEAR(norm, 1.0, 1e-5);
}

TEST(SimEmbed, Base64IsLittleEndianFloat32) {
    std::vector<float> v = {1.0f, -2.5f, 0.125f};
    auto bytes = base64_decode(base64_floats(v));
    ASSERT_EQ(bytes.size(), 12u);
    for (size_t i = 0; i < v.size(); ++i) {
        uint32_t u = bytes[i * 4] | (bytes[i * 4 + 1] << 8) | (bytes[i * 4 + 2] << 16) | (uint32_t(bytes[i * 4 + 3]) << 24);
        float f;
        std::memcpy(&f, &u, 4);
        EXPECT_EQ(f, v[i]);
    }
    EXPECT_EQ(base64_floats({1.0f}), "AACAPw==");
}

TEST(SimWire, JsonStringEscaping) {
    std::string out;
    append_json_string(out, "a\"b\\c\n\x01 é");
    EXPECT_EQ(json::parse(out).get<std::string>(), "a\"b\\c\n\x01 é");
}

TEST(SimWire, ChunkFraming) {
    std::string out;
    append_chunk(out, std::string(26, 'x'));
    EXPECT_EQ(out, "1a\r\n" + std::string(26, 'x') + "\r\n");
}

TEST(SimWire, StreamEvents) {
    auto r = chat_request({{"messages", user("hello")}, {"sim", {{"tokens", 3}}}});
    auto plan = plan_reply("m", r, 0);
    reply_meta meta{"chatcmpl-x", 1, "m", true};
    sse_builder sse(meta, plan, true);
    std::string out;
    sse.head(out);
    for (size_t i = 0; i < plan.stream_tokens(); ++i) sse.token(out, i);
    sse.tail(out);
    // de-chunk and split events
    std::vector<std::string> events;
    size_t pos = 0;
    std::string body;
    while (pos < out.size()) {
        size_t eol = out.find("\r\n", pos);
        size_t n = std::stoul(out.substr(pos, eol - pos), nullptr, 16);
        body += out.substr(eol + 2, n);
        pos = eol + 2 + n + 2;
        if (n == 0) break;
    }
    for (size_t p = 0, e; (e = body.find("\n\n", p)) != std::string::npos; p = e + 2) events.push_back(body.substr(p + 6, e - p - 6));
    ASSERT_EQ(events.size(), 1u + 3u + 1u + 1u + 1u);
    EXPECT_EQ(json::parse(events[0])["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
    EXPECT_EQ(json::parse(events[4])["choices"][0]["finish_reason"], "stop");
    EXPECT_TRUE(json::parse(events[5])["choices"].empty());
    EXPECT_EQ(events[6], "[DONE]");
}
