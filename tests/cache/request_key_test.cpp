#include "cache/request_key.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace swapgate::cache {
namespace {

using nlohmann::json;

const json base = json::parse(R"({
  "model": "fast",
  "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
  "temperature": 0,
  "max_tokens": 64
})");

key128 key_of(const json& body, std::string_view model = "llama-3-8b", std::string_view ns = "global",
              std::string_view endpoint = endpoint_chat) {
    return request_key(endpoint, model, ns, body);
}

key128 key_of_text(const std::string& text) { return key_of(json::parse(text)); }

TEST(request_key, hex_form_round_trips) {
    key128 k = key_of(base);
    std::string hex = k.hex();
    EXPECT_EQ(hex.size(), 32u);
    EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(parse_key128(hex), k);
    EXPECT_FALSE(parse_key128("xyz"));
    EXPECT_FALSE(parse_key128(std::string(32, 'G')));
}

TEST(request_key, byte_different_spellings_of_one_request_hash_equal) {
    key128 a = key_of_text(
        R"({"model":"fast","messages":[{"role":"user","content":"hi"}],"temperature":0,"top_p":1,"max_tokens":100})");
    // Key order, whitespace, 0 vs 0.0, 1 vs 1.0, 100 vs 1e2, escaped vs raw strings.
    key128 b = key_of_text(R"({
        "max_tokens" : 1e2,
        "top_p": 1.0,
        "messages": [ { "content": "\u0068i", "role": "user" } ],
        "temperature": 0.0,
        "model": "fast"
    })");
    key128 c = key_of_text(
        R"({"temperature":-0,"max_tokens":100.0,"model":"fast","top_p":1,"messages":[{"content":"hi","role":"user"}]})");
    EXPECT_EQ(a, b);
    EXPECT_EQ(a, c);
}

TEST(request_key, aliases_of_one_model_share_the_key) {
    json via_alias = base;
    via_alias["model"] = "llama3";
    json via_name = base;
    via_name["model"] = "llama-3-8b";
    EXPECT_EQ(key_of(via_alias, "llama-3-8b"), key_of(via_name, "llama-3-8b"));
    EXPECT_NE(key_of(base, "llama-3-8b"), key_of(base, "llama-3-70b"));
}

TEST(request_key, every_answer_changing_field_changes_the_key) {
    // Each field: a value, and (where the field already exists in `base`) a change.
    const std::vector<std::pair<std::string, json>> fields = {
        {"messages", json::parse(R"([{"role":"user","content":"What is 2+3?"}])")},
        {"tools", json::parse(R"([{"type":"function","function":{"name":"add","parameters":{"type":"object"}}}])")},
        {"tool_choice", "required"},
        {"parallel_tool_calls", false},
        {"response_format", json::parse(R"({"type":"json_object"})")},
        {"temperature", 0.2},
        {"top_p", 0.9},
        {"max_tokens", 65},
        {"max_completion_tokens", 64},
        {"stop", json::parse(R"(["\n"])")},
        {"seed", 42},
        {"n", 2},
        {"presence_penalty", 0.5},
        {"frequency_penalty", 0.5},
        {"logit_bias", json::parse(R"({"50256": -100})")},
        {"logprobs", true},
        {"top_logprobs", 3},
        {"reasoning_effort", "high"},
        {"top_k", 40},
        {"min_p", 0.05},
        {"repeat_penalty", 1.1},
        {"sim", json::parse(R"({"latency_ms": 5})")},  // an unknown extra: included
        {"chat_template_kwargs", json::parse(R"({"enable_thinking": false})")},
    };
    key128 k0 = key_of(base);
    for (const auto& [name, value] : fields) {
        json b = base;
        b[name] = value;
        EXPECT_NE(key_of(b), k0) << name << " did not change the key";
        // A different value of the same field changes it again.
        json b2 = b;
        b2[name] = json::array({value});
        EXPECT_NE(key_of(b2), key_of(b)) << name;
    }
}

TEST(request_key, message_details_change_the_key) {
    auto changed = [&](auto edit) {
        json b = base;
        edit(b);
        return key_of(b) != key_of(base);
    };
    EXPECT_TRUE(changed([](json& b) { b["messages"][0]["content"] = "Be verbose."; }));
    EXPECT_TRUE(changed([](json& b) { b["messages"][1]["name"] = "alice"; }));
    EXPECT_TRUE(changed([](json& b) { b["messages"][1]["role"] = "assistant"; }));
    EXPECT_TRUE(changed([](json& b) { b["messages"][1]["content"] = "What is 2+2? "; }));
    EXPECT_TRUE(changed([](json& b) { std::swap(b["messages"][0], b["messages"][1]); }));
}

TEST(request_key, max_tokens_and_max_completion_tokens_are_distinct) {
    json a = base;
    a.erase("max_tokens");
    json b = a;
    a["max_tokens"] = 64;
    b["max_completion_tokens"] = 64;
    EXPECT_NE(key_of(a), key_of(b));
}

TEST(request_key, namespace_and_endpoint_change_the_key) {
    EXPECT_NE(key_of(base, "m", "tenant-a"), key_of(base, "m", "tenant-b"));
    EXPECT_NE(key_of(base, "m", "global"), key_of(base, "m", "tenant-a"));
    EXPECT_NE(key_of(base, "m", "global", endpoint_chat), key_of(base, "m", "global", endpoint_completions));
    // No way to forge another tenant's key by moving bytes between the parts.
    EXPECT_NE(request_key("a", "bc", "d", base), request_key("a", "b", "cd", base));
}

TEST(request_key, excluded_fields_do_not_change_the_key) {
    key128 k0 = key_of(base);
    for (auto name : excluded_request_fields()) {
        json b = base;
        b[std::string(name)] = name == "stream_options" ? json::parse(R"({"include_usage":true})") : json(true);
        if (name == "user") b[std::string(name)] = "user-1234";
        EXPECT_EQ(key_of(b), k0) << name;
    }
    json s = base;
    s["stream"] = true;
    s["stream_options"] = {{"include_usage", true}};
    s["user"] = "x";
    EXPECT_EQ(key_of(s), k0);
    // model is replaced by the resolved id.
    json m = base;
    m["model"] = "something-else";
    EXPECT_EQ(key_of(m), k0);
}

TEST(request_key, null_members_count_as_absent) {
    json b = base;
    b["seed"] = nullptr;
    b["tools"] = nullptr;
    EXPECT_EQ(key_of(b), key_of(base));
    // ...but not nested ones: a null inside a message is part of the conversation.
    json c = base;
    c["messages"][1]["name"] = nullptr;
    EXPECT_NE(key_of(c), key_of(base));
}

TEST(request_key, material_carries_the_schema_version) {
    std::string m = request_key_material(endpoint_chat, "m", "global", base);
    EXPECT_EQ(m.rfind("[" + std::to_string(schema_version) + ",\"exact\",", 0), 0u) << m;
    EXPECT_EQ(m.find("stream"), std::string::npos);
    EXPECT_EQ(m.find("\"fast\""), std::string::npos);
}

}  // namespace
}  // namespace swapgate::cache
