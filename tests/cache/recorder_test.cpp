// Recording: what makes a completion complete (storable), and how deltas merge.
#include "cache/recorder.hpp"
#include "cache/replay.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <set>

namespace swapgate::cache {
namespace {

using nlohmann::json;
using test::fixture_json;
using test::read_fixture;
using test::sse_payloads;

replay_options no_marker() {
    replay_options o;
    o.marker.clear();
    return o;
}

completion_recorder record_payloads(const std::vector<std::string>& payloads, std::size_t max = SIZE_MAX) {
    completion_recorder r(max);
    for (const auto& p : payloads) r.feed_event(p);
    return r;
}

std::optional<completion_record> record_stream(const std::string& fixture) {
    auto r = record_payloads(sse_payloads(fixture));
    EXPECT_TRUE(r.complete()) << fixture << ": " << r.why_incomplete();
    return r.finish();
}

// What a client gets by concatenating one delta member over the fixture stream.
std::string concat_deltas(const std::string& fixture, const std::string& member) {
    std::string out;
    for (const auto& p : sse_payloads(fixture)) {
        if (p == "[DONE]") continue;
        json chunk = json::parse(p);  // not a temporary: the loop below references into it
        for (const auto& ch : chunk["choices"])
            if (ch["delta"].contains(member) && ch["delta"][member].is_string()) out += ch["delta"][member].get<std::string>();
    }
    return out;
}

std::set<std::string> keys(const json& o) {
    std::set<std::string> k;
    for (const auto& [name, v] : o.items()) k.insert(name);
    return k;
}

TEST(recorder, openai_stream_merges_into_the_non_stream_shape) {
    auto rec = record_stream("openai/chat_stream.sse");
    ASSERT_TRUE(rec);
    EXPECT_TRUE(rec->from_stream());
    EXPECT_TRUE(rec->chat());
    EXPECT_TRUE(rec->has_usage());
    json out = to_response_json(*rec, no_marker());
    json first = json::parse(sse_payloads("openai/chat_stream.sse").front());
    EXPECT_EQ(out["id"], first["id"]);
    EXPECT_EQ(out["created"], first["created"]);
    EXPECT_EQ(out["model"], "gpt-4-0613");
    EXPECT_EQ(out["object"], "chat.completion");
    EXPECT_EQ(out["service_tier"], "default");
    EXPECT_TRUE(out["system_fingerprint"].is_null());
    const json& msg = out["choices"][0]["message"];
    EXPECT_EQ(msg["role"], "assistant");
    EXPECT_EQ(msg["content"], concat_deltas("openai/chat_stream.sse", "content"));
    EXPECT_EQ(msg["content"], "\"Crypto is digital currency-based.\"\n");
    EXPECT_TRUE(msg["refusal"].is_null());
    EXPECT_EQ(out["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(out["usage"]["completion_tokens"], 17);
    EXPECT_EQ(out["usage"]["prompt_tokens_details"]["cached_tokens"], 0);  // zeros copied verbatim

    // Same shape as the recorded non-stream response of the same API.
    json real = fixture_json("openai/chat_completion.json");
    EXPECT_EQ(keys(out), keys(real));
    EXPECT_EQ(keys(out["choices"][0]), keys(real["choices"][0]));
    for (const auto& k : keys(msg)) EXPECT_TRUE(real["choices"][0]["message"].contains(k)) << k;
    EXPECT_FALSE(out.contains("obfuscation"));
}

TEST(recorder, llama_stream_keeps_reasoning_content_and_timings) {
    auto rec = record_stream("llama-server/chat_stream.sse");
    ASSERT_TRUE(rec);
    json out = to_response_json(*rec, no_marker());
    json real = fixture_json("llama-server/chat_completion.json");
    const json& msg = out["choices"][0]["message"];
    EXPECT_EQ(msg["reasoning_content"], concat_deltas("llama-server/chat_stream.sse", "reasoning_content"));
    EXPECT_EQ(msg["reasoning_content"], "Hmm, the user contact.");
    // The two captures answered "hi" identically.
    EXPECT_EQ(msg["content"], real["choices"][0]["message"]["content"]);
    EXPECT_EQ(keys(msg), keys(real["choices"][0]["message"]));
    EXPECT_EQ(keys(out), keys(real));  // timings included, from the usage chunk
    EXPECT_EQ(keys(out["choices"][0]), keys(real["choices"][0]));
    EXPECT_EQ(out["usage"], json::parse(R"({"completion_tokens":117,"prompt_tokens":5,"total_tokens":122})"));
    EXPECT_EQ(out["system_fingerprint"], "b6459-84d7b2fc");
    EXPECT_EQ(out["created"], 1757764835);
}

TEST(recorder, tool_call_stream_merges_arguments_by_index) {
    auto rec = record_stream("openai/chat_tool_call_stream.sse");
    ASSERT_TRUE(rec);
    EXPECT_FALSE(rec->has_usage());  // the client did not ask for include_usage
    EXPECT_EQ(rec->finish_reason(0), "tool_calls");
    json msg = to_response_json(*rec, no_marker())["choices"][0]["message"];
    EXPECT_EQ(msg, json::parse(R"({
        "role": "assistant", "content": null, "refusal": null,
        "tool_calls": [{"id": "call_2Uzw0AEZQeOex2CP2TKjcLKc", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"location\":\"San Francisco, CA\"}"}}]
    })"));
}

TEST(recorder, interleaved_parallel_tool_calls_and_repeated_identity) {
    std::vector<std::string> payloads = {
        R"({"object":"chat.completion.chunk","id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"b","arguments":""}}]},"finish_reason":null}]})",
        R"({"object":"chat.completion.chunk","id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"a","arguments":"{\"x\""}}]},"finish_reason":null}]})",
        // Some servers repeat id/type/name on every fragment: they must not be concatenated.
        R"({"object":"chat.completion.chunk","id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"b","arguments":"{}"}}]},"finish_reason":null}]})",
        R"({"object":"chat.completion.chunk","id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":null}]})",
        R"({"object":"chat.completion.chunk","id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})",
        "[DONE]"};
    auto r = record_payloads(payloads);
    ASSERT_TRUE(r.complete()) << r.why_incomplete();
    auto rec = r.finish();
    json calls = to_response_json(*rec, no_marker())["choices"][0]["message"]["tool_calls"];
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0]["id"], "call_a");
    EXPECT_EQ(calls[0]["function"]["name"], "a");
    EXPECT_EQ(calls[0]["function"]["arguments"], "{\"x\":1}");
    EXPECT_EQ(calls[1]["id"], "call_b");
    EXPECT_EQ(calls[1]["type"], "function");
    EXPECT_EQ(calls[1]["function"]["name"], "b");
    EXPECT_EQ(calls[1]["function"]["arguments"], "{}");
    EXPECT_TRUE(rec->has_usage());  // usage on a chunk that still has choices counts too
}

TEST(recorder, ollama_style_role_on_every_chunk_and_reasoning_field) {
    std::vector<std::string> payloads = {
        R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":5,"model":"qwen","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","reasoning":"think "}}]})",
        R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":5,"model":"qwen","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","reasoning":"more","content":"Hi"}}]})",
        R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":5,"model":"qwen","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]})",
        "[DONE]"};
    auto r = record_payloads(payloads);
    ASSERT_TRUE(r.complete()) << r.why_incomplete();
    json msg = to_response_json(*r.finish(), no_marker())["choices"][0]["message"];
    EXPECT_EQ(msg["role"], "assistant");
    EXPECT_EQ(msg["reasoning"], "think more");
    EXPECT_EQ(msg["content"], "Hi");
}

TEST(recorder, non_stream_fixtures_are_complete) {
    for (auto f : {"openai/chat_completion.json", "openai/chat_tool_call.json", "openai/completion.json",
                   "llama-server/chat_completion.json"}) {
        completion_recorder r;
        r.feed_response(read_fixture(f));
        EXPECT_TRUE(r.complete()) << f << ": " << r.why_incomplete();
        auto rec = r.finish();
        ASSERT_TRUE(rec) << f;
        EXPECT_FALSE(rec->from_stream());
        // Same form: the body comes back as it was.
        EXPECT_EQ(to_response_json(*rec, no_marker()), fixture_json(f)) << f;
    }
}

TEST(recorder, truncated_streams_are_not_complete) {
    auto all = sse_payloads("openai/chat_stream.sse");
    // Cut before [DONE]: the usage chunk and finish were seen, the stream was not closed cleanly.
    auto no_done = std::vector<std::string>(all.begin(), all.end() - 1);
    auto r1 = record_payloads(no_done);
    EXPECT_FALSE(r1.complete());
    EXPECT_EQ(r1.why_incomplete(), "stream ended without [DONE]");
    EXPECT_FALSE(r1.finish());

    // Cut mid-content, even if a [DONE] follows (a proxy in between closing it off).
    std::vector<std::string> partial(all.begin(), all.begin() + 4);
    partial.push_back("[DONE]");
    auto r2 = record_payloads(partial);
    EXPECT_FALSE(r2.complete());
    EXPECT_EQ(r2.why_incomplete(), "a choice has no finish_reason");

    // Every prefix of every fixture stream short of the end is incomplete.
    for (auto f : {"openai/chat_stream.sse", "openai/chat_tool_call_stream.sse", "llama-server/chat_stream.sse"}) {
        auto p = sse_payloads(f);
        for (std::size_t n = 0; n < p.size(); ++n)
            EXPECT_FALSE(record_payloads(std::vector<std::string>(p.begin(), p.begin() + n)).complete()) << f << " " << n;
        EXPECT_TRUE(record_payloads(p).complete()) << f;
    }
}

TEST(recorder, errors_are_not_complete) {
    auto all = sse_payloads("openai/chat_stream.sse");

    // An error chunk in the middle of an otherwise complete stream.
    auto with_error = all;
    with_error.insert(with_error.begin() + 3, R"({"error":{"message":"boom","type":"server_error"}})");
    EXPECT_EQ(record_payloads(with_error).why_incomplete(), "error in stream");

    // Old llama-server: an "error:" SSE field; the relay reports it with fail().
    completion_recorder legacy;
    for (const auto& line : test::sse_lines(read_fixture("llama-server/stream_error_legacy.sse"))) {
        if (line.field == "error") legacy.fail("upstream error event");
        else legacy.feed_event(line.value);
    }
    EXPECT_FALSE(legacy.complete());
    EXPECT_EQ(legacy.why_incomplete(), "upstream error event");
    // Even without the fail() call nothing storable came out of it.
    completion_recorder only_done;
    only_done.feed_event("[DONE]");
    EXPECT_FALSE(only_done.complete());

    // Cancelled by the client after everything arrived: still not stored.
    auto cancelled = record_payloads(all);
    cancelled.fail("client cancelled");
    EXPECT_FALSE(cancelled.complete());

    // A non-stream error body.
    completion_recorder err;
    err.feed_response(read_fixture("openai/error_404_model.json"));
    EXPECT_FALSE(err.complete());

    completion_recorder garbage;
    garbage.feed_response("{\"choices\": [");
    EXPECT_FALSE(garbage.complete());

    auto bad_chunk = all;
    bad_chunk[2] = "{not json";
    EXPECT_FALSE(record_payloads(bad_chunk).complete());

    auto after_done = all;
    after_done.push_back(all[1]);
    EXPECT_EQ(record_payloads(after_done).why_incomplete(), "data after [DONE]");
}

TEST(recorder, only_normal_finish_reasons_are_complete) {
    json body = fixture_json("openai/chat_completion.json");
    for (auto [reason, ok] : std::vector<std::pair<json, bool>>{{"stop", true},
                                                                 {"length", true},
                                                                 {"tool_calls", true},
                                                                 {"function_call", true},
                                                                 {"content_filter", false},
                                                                 {"abort", false},
                                                                 {"error", false},
                                                                 {nullptr, false}}) {
        body["choices"][0]["finish_reason"] = reason;
        completion_recorder r;
        r.feed_response_json(body, 100);
        EXPECT_EQ(r.complete(), ok) << reason;
    }
    // vLLM aborts streams on sleep with finish_reason "abort".
    auto p = sse_payloads("openai/chat_stream.sse");
    auto j = json::parse(p[p.size() - 3]);
    j["choices"][0]["finish_reason"] = "abort";
    p[p.size() - 3] = j.dump();
    EXPECT_EQ(record_payloads(p).why_incomplete(), "finish_reason 'abort'");
}

TEST(recorder, every_choice_must_finish) {
    std::string c0 = R"({"object":"chat.completion.chunk","id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]})";
    std::string c1 = R"({"object":"chat.completion.chunk","id":"c","created":1,"model":"m","choices":[{"index":1,"delta":{"content":"b"},"finish_reason":null}]})";
    EXPECT_FALSE(record_payloads({c0, c1, "[DONE]"}).complete());
    std::string c1f = R"({"object":"chat.completion.chunk","id":"c","created":1,"model":"m","choices":[{"index":1,"delta":{},"finish_reason":"length"}]})";
    auto r = record_payloads({c1, c0, c1f, "[DONE]"});
    ASSERT_TRUE(r.complete());
    json out = to_response_json(*r.finish(), no_marker());
    ASSERT_EQ(out["choices"].size(), 2u);
    EXPECT_EQ(out["choices"][0]["index"], 0);  // sorted by index
    EXPECT_EQ(out["choices"][1]["message"]["content"], "b");
    EXPECT_EQ(out["choices"][1]["finish_reason"], "length");
}

TEST(recorder, logprobs_are_not_stored) {
    json body = fixture_json("openai/chat_completion.json");
    body["choices"][0]["logprobs"] = {{"content", json::array()}};
    completion_recorder r;
    r.feed_response_json(body, 100);
    EXPECT_EQ(r.why_incomplete(), "logprobs are not cached");
}

TEST(recorder, entries_past_the_size_bound_are_not_stored) {
    auto p = sse_payloads("openai/chat_stream.sse");
    EXPECT_TRUE(record_payloads(p, 100000).complete());
    auto small = record_payloads(p, 1000);
    EXPECT_EQ(small.why_incomplete(), "larger than the maximum entry size");
    completion_recorder r(100);
    r.feed_response(read_fixture("openai/chat_completion.json"));
    EXPECT_FALSE(r.complete());
}

TEST(recorder, finish_spends_the_recorder) {
    auto r = record_payloads(sse_payloads("openai/chat_stream.sse"));
    EXPECT_TRUE(r.finish());
    EXPECT_FALSE(r.complete());
    EXPECT_FALSE(r.finish());
}

}  // namespace
}  // namespace swapgate::cache
