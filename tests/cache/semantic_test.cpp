#include "cache/request_key.hpp"
#include "cache/semantic.hpp"
#include "cache/text_normalize.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace swapgate::cache {
namespace {

using nlohmann::json;

semantic_settings enabled() {
    semantic_settings s;
    s.enabled = true;
    s.embedding_model = "nomic-embed-text";
    s.min_chars = 8;
    s.max_turns = 3;
    return s;
}

const json conversation = json::parse(R"({
  "model": "fast",
  "messages": [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And what is its population?"}
  ],
  "temperature": 0,
  "tools": [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
})");

semantic_plan_result plan(const json& body, std::string_view ns = "tenant-a", std::string_view model = "llama-3-8b",
                          const semantic_settings& s = enabled()) {
    return semantic_plan(endpoint_chat, model, ns, body, s);
}

TEST(semantic_plan, eligible_conversation) {
    auto p = plan(conversation);
    ASSERT_TRUE(p.eligible) << p.reason;
    EXPECT_EQ(p.text_to_embed, "And what is its population?");
    EXPECT_TRUE(p.reason.empty());
}

TEST(semantic_plan, partition_ignores_only_the_final_user_message) {
    auto p0 = plan(conversation);
    json b = conversation;
    b["messages"].back()["content"] = "How many people live there?";
    auto p1 = plan(b);
    ASSERT_TRUE(p1.eligible);
    EXPECT_EQ(p1.partition_key, p0.partition_key);
    EXPECT_NE(p1.text_to_embed, p0.text_to_embed);
    // Stream options and the end-user id do not split partitions either.
    json s = conversation;
    s["stream"] = true;
    s["stream_options"] = {{"include_usage", true}};
    s["user"] = "u1";
    s["model"] = "an-alias";
    EXPECT_EQ(plan(s).partition_key, p0.partition_key);
    // Text parts form the same final message.
    json parts = conversation;
    parts["messages"].back()["content"] = json::parse(R"([{"type":"text","text":"And what is its population?"}])");
    EXPECT_EQ(plan(parts).partition_key, p0.partition_key);
    EXPECT_EQ(plan(parts).text_to_embed, p0.text_to_embed);
}

TEST(semantic_plan, partition_changes_with_everything_else) {
    const key128 k0 = plan(conversation).partition_key;
    auto differs = [&](const char* what, auto edit, std::string_view ns = "tenant-a",
                       std::string_view model = "llama-3-8b", semantic_settings s = enabled()) {
        json b = conversation;
        edit(b);
        auto p = plan(b, ns, model, s);
        ASSERT_TRUE(p.eligible) << what << ": " << p.reason;
        EXPECT_NE(p.partition_key, k0) << what;
    };
    auto same = [](json&) {};
    differs("namespace", same, "tenant-b");
    differs("namespace global", same, "global");
    differs("model", same, "tenant-a", "llama-3-70b");
    semantic_settings other_embedder = enabled();
    other_embedder.embedding_model = "bge-m3";
    differs("embedding model", same, "tenant-a", "llama-3-8b", other_embedder);
    differs("system prompt", [](json& b) { b["messages"][0]["content"] = "You are a pirate."; });
    differs("no system prompt", [](json& b) { b["messages"].erase(0); });
    differs("earlier user turn", [](json& b) { b["messages"][1]["content"] = "What is the capital of Spain?"; });
    differs("earlier assistant turn", [](json& b) { b["messages"][2]["content"] = "Madrid."; });
    differs("tools", [](json& b) { b["tools"][0]["function"]["name"] = "lookup"; });
    differs("no tools", [](json& b) { b.erase("tools"); });
    differs("tool_choice", [](json& b) { b["tool_choice"] = "none"; });
    differs("response_format", [](json& b) { b["response_format"] = {{"type", "json_object"}}; });
    differs("temperature", [](json& b) { b["temperature"] = 0.5; });
    differs("seed", [](json& b) { b["seed"] = 1; });
    differs("max_tokens", [](json& b) { b["max_tokens"] = 10; });
    differs("top_p", [](json& b) { b["top_p"] = 0.5; });
    differs("stop", [](json& b) { b["stop"] = "\n"; });
    differs("unknown extra", [](json& b) { b["top_k"] = 1; });
    differs("final message name", [](json& b) { b["messages"].back()["name"] = "bob"; });
}

TEST(semantic_plan, partition_is_not_the_exact_key) {
    auto p = plan(conversation);
    EXPECT_NE(p.partition_key, request_key(endpoint_chat, "llama-3-8b", "tenant-a", conversation));
}

TEST(semantic_plan, skips) {
    auto skipped = [](const semantic_plan_result& p, const char* what) {
        EXPECT_FALSE(p.eligible) << what;
        EXPECT_FALSE(p.reason.empty()) << what;
        EXPECT_TRUE(p.text_to_embed.empty()) << what;
    };
    semantic_settings off = enabled();
    off.enabled = false;
    skipped(plan(conversation, "a", "m", off), "disabled");
    skipped(semantic_plan(endpoint_completions, "m", "a", conversation, enabled()), "completions endpoint");

    json empty = conversation;
    empty["messages"].back()["content"] = "";
    skipped(plan(empty), "empty final message");
    json blank = conversation;
    blank["messages"].back()["content"] = "  \n\t  ";
    skipped(plan(blank), "whitespace-only final message");
    json short_msg = conversation;
    short_msg["messages"].back()["content"] = "  yes  ok ";  // "yes ok" = 6 chars after normalising
    skipped(plan(short_msg), "short final message");
    json long_msg = conversation;
    long_msg["messages"].back()["content"] = std::string(3000, 'a');
    skipped(plan(long_msg), "long final message");

    json last_assistant = conversation;
    last_assistant["messages"].push_back({{"role", "assistant"}, {"content", "It has about 2 million people."}});
    skipped(plan(last_assistant), "final message from the assistant");
    json tool_result = conversation;
    tool_result["messages"].push_back({{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "2.1 million"}});
    skipped(plan(tool_result), "final message is a tool result");

    json image = conversation;
    image["messages"].back()["content"] = json::parse(
        R"([{"type":"text","text":"What is in this picture?"},{"type":"image_url","image_url":{"url":"data:,"}}])");
    skipped(plan(image), "image content");

    json no_messages = conversation;
    no_messages["messages"] = json::array();
    skipped(plan(no_messages), "no messages");
    skipped(plan(json::array()), "not an object");
}

TEST(semantic_plan, long_conversations_skip) {
    json b = conversation;  // 2 user turns
    semantic_settings s = enabled();
    s.max_turns = 2;
    EXPECT_TRUE(plan(b, "a", "m", s).eligible);
    b["messages"].push_back({{"role", "assistant"}, {"content", "About 2.1 million."}});
    b["messages"].push_back({{"role", "user"}, {"content", "And of its metro area?"}});
    auto p = plan(b, "a", "m", s);
    EXPECT_FALSE(p.eligible);
    EXPECT_EQ(p.reason, "conversation longer than max_turns");
    s.max_turns = 3;
    EXPECT_TRUE(plan(b, "a", "m", s).eligible);
}

TEST(semantic_plan, min_chars_counts_code_points) {
    semantic_settings s = enabled();
    s.min_chars = 5;
    json b = conversation;
    b["messages"].back()["content"] = "ééééé";  // 10 bytes, 5 code points
    EXPECT_TRUE(plan(b, "a", "m", s).eligible);
    b["messages"].back()["content"] = "éééé";
    EXPECT_FALSE(plan(b, "a", "m", s).eligible);
}

TEST(semantic_plan, embedded_text_is_normalised) {
    json a = conversation, b = conversation;
    a["messages"].back()["content"] = "  What is\tthe  population\nof Paris?  ";
    b["messages"].back()["content"] = "What is the population of Paris?";
    EXPECT_EQ(plan(a).text_to_embed, plan(b).text_to_embed);
}

TEST(normalize_text, whitespace_and_unicode) {
    EXPECT_EQ(normalize_text("  a \t\n b  "), "a b");
    EXPECT_EQ(normalize_text("a\xC2\xA0\xE3\x80\x80" "b"), "a b");     // NBSP, ideographic space
    EXPECT_EQ(normalize_text("a\xE2\x80\x8B" "b\xEF\xBB\xBF"), "ab");  // zero-width space, BOM
    EXPECT_EQ(normalize_text("Cafe\xCC\x81"), "Caf\xC3\xA9");          // e + U+0301 -> é (NFC)
    EXPECT_EQ(normalize_text("Caf\xC3\xA9"), "Caf\xC3\xA9");
    // Two marks: e + U+0323 + U+0302 -> U+1EC7 (ệ).
    EXPECT_EQ(normalize_text("e\xCC\xA3\xCC\x82"), "\xE1\xBB\x87");
    EXPECT_EQ(normalize_text("\xD0\x98\xCC\x86"), "\xD0\x99");  // Cyrillic И + breve -> Й
    EXPECT_EQ(normalize_text("Case Stays"), "Case Stays");         // no case folding
    EXPECT_EQ(normalize_text("bad\xFF"), "bad\xEF\xBF\xBD");
    EXPECT_EQ(normalize_text(""), "");
    EXPECT_EQ(count_code_points("a\xC3\xA9\xF0\x9F\x98\x8A"), 3u);
}

}  // namespace
}  // namespace swapgate::cache
