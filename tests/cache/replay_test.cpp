// Replay: a stored stream served as non-stream and as a stream, a stored response
// served as a stream; round trips through both forms.
#include "cache/recorder.hpp"
#include "cache/replay.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <set>

namespace swapgate::cache {
namespace {

using nlohmann::json;
using test::fixture_json;
using test::payloads_of;
using test::read_fixture;
using test::sse_payloads;

replay_options opts(bool include_usage) {
    replay_options o;
    o.include_usage = include_usage;
    o.marker.clear();
    return o;
}

completion_record record_stream_payloads(const std::vector<std::string>& payloads) {
    completion_recorder r;
    for (const auto& p : payloads) r.feed_event(p);
    EXPECT_TRUE(r.complete()) << r.why_incomplete();
    auto rec = r.finish();
    if (!rec) throw std::runtime_error("incomplete");
    return *rec;
}

completion_record record_fixture_stream(const std::string& f) { return record_stream_payloads(sse_payloads(f)); }

completion_record record_response(const json& body) {
    completion_recorder r;
    r.feed_response_json(body, body.dump().size());
    EXPECT_TRUE(r.complete()) << r.why_incomplete();
    auto rec = r.finish();
    if (!rec) throw std::runtime_error("incomplete");
    return *rec;
}

std::vector<json> fixture_chunks(const std::string& f) {
    std::vector<json> out;
    for (const auto& p : sse_payloads(f))
        if (p != "[DONE]") out.push_back(json::parse(p));
    return out;
}

std::vector<json> parse_all(const std::vector<std::string>& payloads) {
    std::vector<json> out;
    for (const auto& p : payloads) out.push_back(json::parse(p));
    return out;
}

// ---- stream -> stream ----------------------------------------------------------

TEST(replay, stream_round_trip_gives_the_same_payload_sequence) {
    // With usage asked for, the recorded streams come back chunk for chunk.
    for (auto f : {"openai/chat_stream.sse", "llama-server/chat_stream.sse"}) {
        auto rec = record_fixture_stream(f);
        EXPECT_EQ(to_stream_chunks(rec, opts(true)), fixture_chunks(f)) << f;
        auto events = to_sse_events(rec, opts(true));
        auto payloads = payloads_of(events);
        ASSERT_EQ(payloads.back(), "[DONE]");
        payloads.pop_back();
        EXPECT_EQ(parse_all(payloads), fixture_chunks(f)) << f;
    }
    // The tool-call capture had no usage; without include_usage it is identical too.
    auto rec = record_fixture_stream("openai/chat_tool_call_stream.sse");
    EXPECT_EQ(to_stream_chunks(rec, opts(false)), fixture_chunks("openai/chat_tool_call_stream.sse"));
}

TEST(replay, usage_chunk_only_with_include_usage) {
    auto rec = record_fixture_stream("openai/chat_stream.sse");
    auto with = to_stream_chunks(rec, opts(true));
    EXPECT_TRUE(with.back()["choices"].empty());
    EXPECT_EQ(with.back()["usage"]["total_tokens"], 46);

    auto without = to_stream_chunks(rec, opts(false));
    EXPECT_EQ(without.size(), with.size() - 1);
    for (const auto& c : without) {
        EXPECT_FALSE(c["choices"].empty());
        EXPECT_FALSE(c.contains("usage")) << c.dump();
    }
    // Apart from usage, the chunks are the recorded ones.
    auto expected = fixture_chunks("openai/chat_stream.sse");
    expected.pop_back();
    for (auto& e : expected) e.erase("usage");
    EXPECT_EQ(without, expected);

    // llama-server sends the usage chunk unasked; a client that did not ask gets none.
    auto llama = to_stream_chunks(record_fixture_stream("llama-server/chat_stream.sse"), opts(false));
    for (const auto& c : llama) EXPECT_FALSE(c.contains("usage"));
}

TEST(replay, usage_cannot_be_invented) {
    auto rec = record_fixture_stream("openai/chat_tool_call_stream.sse");
    EXPECT_TRUE(replayable(rec, true, false));
    EXPECT_FALSE(replayable(rec, true, true));
    EXPECT_FALSE(replayable(rec, false, false));
    // Asked anyway, it replays without a usage chunk rather than with made-up numbers.
    for (const auto& c : to_stream_chunks(rec, opts(true))) EXPECT_FALSE(c["choices"].empty());
    EXPECT_TRUE(to_response_json(rec, opts(false))["usage"].is_null());

    auto with_usage = record_fixture_stream("openai/chat_stream.sse");
    EXPECT_TRUE(replayable(with_usage, true, true));
    EXPECT_TRUE(replayable(with_usage, false, false));
}

// ---- response -> stream ------------------------------------------------------------

TEST(replay, response_replayed_as_stream_in_openai_order) {
    json body = fixture_json("openai/chat_completion.json");
    auto chunks = to_stream_chunks(record_response(body), opts(true));
    ASSERT_GE(chunks.size(), 4u);
    // Role-only first chunk, carrying the message's non-text members.
    EXPECT_EQ(chunks[0]["choices"][0]["delta"],
              json::parse(R"({"role":"assistant","content":"","refusal":null,"annotations":[]})"));
    std::string content;
    for (std::size_t i = 1; i + 2 < chunks.size(); ++i) {
        const json& d = chunks[i]["choices"][0]["delta"];
        ASSERT_EQ(d.size(), 1u) << d.dump();
        content += d["content"].get<std::string>();
        EXPECT_TRUE(chunks[i]["choices"][0]["finish_reason"].is_null());
    }
    EXPECT_EQ(content, body["choices"][0]["message"]["content"]);
    const json& fin = chunks[chunks.size() - 2];
    EXPECT_EQ(fin["choices"][0]["delta"], json::object());
    EXPECT_EQ(fin["choices"][0]["finish_reason"], "stop");
    EXPECT_TRUE(fin["choices"][0]["logprobs"].is_null());
    const json& usage = chunks.back();
    EXPECT_EQ(usage["choices"], json::array());
    EXPECT_EQ(usage["usage"], body["usage"]);
    for (const auto& c : chunks) {
        EXPECT_EQ(c["object"], "chat.completion.chunk");
        EXPECT_EQ(c["id"], body["id"]);
        EXPECT_EQ(c["created"], body["created"]);
        EXPECT_EQ(c["model"], body["model"]);
        EXPECT_EQ(c["service_tier"], "default");
        EXPECT_TRUE(c.contains("system_fingerprint"));
        EXPECT_TRUE(c.contains("usage"));  // null until the usage chunk, as OpenAI does
    }
    // Without include_usage: no usage anywhere.
    auto plain = to_stream_chunks(record_response(body), opts(false));
    EXPECT_EQ(plain.size(), chunks.size() - 1);
    for (const auto& c : plain) {
        EXPECT_FALSE(c.contains("usage"));
        EXPECT_FALSE(c["choices"].empty());
    }
}

TEST(replay, response_tool_calls_replayed_as_indexed_deltas) {
    json body = fixture_json("openai/chat_tool_call.json");
    auto chunks = to_stream_chunks(record_response(body), opts(false));
    EXPECT_EQ(chunks[0]["choices"][0]["delta"], json::parse(R"({"role":"assistant","content":null})"));
    EXPECT_EQ(chunks[1]["choices"][0]["delta"]["tool_calls"][0],
              json::parse(R"({"index":0,"id":"call_abc123","type":"function",
                              "function":{"name":"get_current_weather","arguments":""}})"));
    std::string args;
    for (std::size_t i = 2; i + 1 < chunks.size(); ++i) {
        const json& tc = chunks[i]["choices"][0]["delta"]["tool_calls"][0];
        EXPECT_EQ(tc.size(), 2u);  // only index + function.arguments
        EXPECT_EQ(tc["index"], 0);
        args += tc["function"]["arguments"].get<std::string>();
    }
    EXPECT_EQ(args, body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]);
    EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "tool_calls");
}

TEST(replay, several_tool_calls_keep_their_indexes) {
    json body = fixture_json("openai/chat_tool_call.json");
    json second = body["choices"][0]["message"]["tool_calls"][0];
    second["id"] = "call_def456";
    second["function"]["arguments"] = "{\"location\": \"Paris\"}";
    body["choices"][0]["message"]["tool_calls"].push_back(second);
    auto rec = record_response(body);
    std::vector<std::string> events = payloads_of(to_sse_events(rec, opts(true)));
    std::set<int> seen;
    for (const auto& p : events) {
        if (p == "[DONE]") continue;
        json chunk = json::parse(p);  // not a temporary: the loop below references into it
        for (const auto& ch : chunk["choices"])
            if (ch["delta"].contains("tool_calls")) seen.insert(ch["delta"]["tool_calls"][0]["index"].get<int>());
    }
    EXPECT_EQ(seen, (std::set<int>{0, 1}));
    // ...and recording the replayed stream gives the response back.
    EXPECT_EQ(to_response_json(record_stream_payloads(events), opts(false)), body);
}

TEST(replay, response_to_stream_to_response_is_lossless) {
    for (auto f : {"openai/chat_completion.json", "openai/chat_tool_call.json", "openai/completion.json",
                   "llama-server/chat_completion.json"}) {
        json body = fixture_json(f);
        auto rec = record_response(body);
        auto events = to_sse_events(rec, opts(true));
        ASSERT_EQ(events.back(), "data: [DONE]\n\n");
        auto again = record_stream_payloads(payloads_of(events));
        EXPECT_EQ(to_response_json(again, opts(false)), body) << f;
    }
}

TEST(replay, reasoning_content_streams_before_content) {
    json body = fixture_json("llama-server/chat_completion.json");
    auto chunks = to_stream_chunks(record_response(body), opts(false));
    std::string reasoning, content;
    bool content_started = false;
    for (const auto& c : chunks) {
        const json& d = c["choices"][0]["delta"];
        if (d.contains("reasoning_content")) {
            EXPECT_FALSE(content_started) << "reasoning after content";
            reasoning += d["reasoning_content"].get<std::string>();
        }
        if (d.contains("content") && d["content"].is_string()) {
            content_started = content_started || !d["content"].get<std::string>().empty();
            content += d["content"].get<std::string>();
        }
    }
    EXPECT_EQ(reasoning, body["choices"][0]["message"]["reasoning_content"]);
    EXPECT_EQ(content, body["choices"][0]["message"]["content"]);
    EXPECT_GT(chunks.size(), 20u);  // streamed in pieces, not as one chunk
    // llama-server's timings ride on the final chunk.
    EXPECT_EQ(chunks.back()["timings"], body["timings"]);
    EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "stop");
}

TEST(replay, text_completion_streams) {
    json body = fixture_json("openai/completion.json");
    auto chunks = to_stream_chunks(record_response(body), opts(true));
    std::string text;
    for (const auto& c : chunks) {
        EXPECT_EQ(c["object"], "text_completion");
        if (!c["choices"].empty()) text += c["choices"][0]["text"].get<std::string>();
    }
    EXPECT_EQ(text, body["choices"][0]["text"]);
    EXPECT_EQ(chunks[chunks.size() - 2]["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(chunks.back()["usage"], body["usage"]);
}

// ---- stream -> response (against the stream's own content) -----------------------

TEST(replay, stream_to_response_to_stream_keeps_content_and_tool_calls) {
    for (auto f : {"openai/chat_stream.sse", "openai/chat_tool_call_stream.sse", "llama-server/chat_stream.sse"}) {
        auto rec = record_fixture_stream(f);
        json as_body = to_response_json(rec, opts(false));
        if (!rec.has_usage()) as_body["usage"] = json::parse(R"({"prompt_tokens":1,"completion_tokens":1,"total_tokens":2})");
        // Serve that body as a stream again and merge: the message is unchanged.
        auto back = record_stream_payloads(payloads_of(to_sse_events(record_response(as_body), opts(false))));
        EXPECT_EQ(to_response_json(back, opts(false))["choices"], as_body["choices"]) << f;
    }
}

// ---- options ------------------------------------------------------------------------

TEST(replay, overrides_and_marker) {
    replay_options o;
    o.include_usage = true;
    o.id = "chatcmpl-new";
    o.model = "fast";
    o.created = 42;
    o.marker = "semantic-hit";
    auto rec = record_fixture_stream("openai/chat_stream.sse");
    auto chunks = to_stream_chunks(rec, o);
    for (std::size_t i = 0; i < chunks.size(); ++i) {
        EXPECT_EQ(chunks[i]["id"], "chatcmpl-new");
        EXPECT_EQ(chunks[i]["model"], "fast");
        EXPECT_EQ(chunks[i]["created"], 42);
        EXPECT_EQ(chunks[i].contains("swapgate_cache"), i + 1 == chunks.size());
    }
    EXPECT_EQ(chunks.back()["swapgate_cache"], "semantic-hit");
    json body = to_response_json(rec, o);
    EXPECT_EQ(body["id"], "chatcmpl-new");
    EXPECT_EQ(body["swapgate_cache"], "semantic-hit");
    // Default marker.
    EXPECT_EQ(to_response_json(rec)["swapgate_cache"], "hit");
    // Usage on a hit is the original call's usage, unchanged.
    EXPECT_EQ(body["usage"], fixture_chunks("openai/chat_stream.sse").back()["usage"]);
}

TEST(replay, sse_events_are_well_framed) {
    json body = fixture_json("openai/chat_completion.json");
    body["choices"][0]["message"]["content"] = "line one\nline two\r\n\n  indented \xF0\x9F\x98\x8A";
    auto events = to_sse_events(record_response(body), opts(false));
    for (const auto& e : events) {
        EXPECT_EQ(e.rfind("data: ", 0), 0u);
        EXPECT_EQ(e.find('\n'), e.size() - 2) << "raw newline inside an event: " << e;
        EXPECT_EQ(e.find('\r'), std::string::npos);
    }
}

TEST(split_text_pieces, pieces_concatenate_to_the_text) {
    for (std::string text : {std::string(""), std::string("a"), std::string("Hello! How can I help you today? 😊"),
                             std::string("\n\nThis is indeed a test"), std::string("  lead and trail  "),
                             std::string(200, 'x'), std::string("ééééééééééééééééééééééééééééééééééééééé"),
                             std::string("{\n\"location\": \"Boston, MA\"\n}")}) {
        auto pieces = split_text_pieces(text, 16);
        std::string joined;
        for (const auto& p : pieces) {
            EXPECT_FALSE(p.empty());
            EXPECT_LE(p.size(), 16u);
            // Never split inside a UTF-8 sequence.
            EXPECT_NE(static_cast<unsigned char>(p[0]) & 0xC0, 0x80u) << text;
            joined += p;
        }
        EXPECT_EQ(joined, text);
    }
    EXPECT_EQ(split_text_pieces("Hello big world"), (std::vector<std::string>{"Hello", " big", " world"}));
}

}  // namespace
}  // namespace swapgate::cache
