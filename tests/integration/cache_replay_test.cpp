// The response cache: answers replayed in the form the client asks for (stream
// or not, with tool calls, reasoning and the usage chunk only when asked for),
// and incomplete answers never stored.
#include "cache_helpers.hpp"

namespace swapgate::test::cache {
namespace {

// ---- 5. replay across forms ---------------------------------------------------------------

const std::string weather_tools =
    R"("tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",)"
    R"("properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}}])";

TEST(Cache, StreamStoredReplaysAsNonStreamWithToolCallsAndReasoning) {
    cache_env env;
    std::string base = det_body("m", "weather in two cities", weather_tools + R"(,"sim":{"reasoning_tokens":5})");
    std::string streamed = base.substr(0, base.size() - 1) + R"(,"stream":true})";
    auto s = store(env, streamed);
    auto parts = parse_stream(s.body);
    ASSERT_TRUE(parts.done) << s.body;
    auto original = merge_stream(parts.chunks);
    ASSERT_EQ(original.tools.size(), 1u) << s.body;
    EXPECT_EQ(original.tools[0].name, "get_weather");
    EXPECT_EQ(original.tools[0].id.rfind("call_", 0), 0u);
    EXPECT_TRUE(json::parse(original.tools[0].arguments, nullptr, false).is_object()) << original.tools[0].arguments;
    EXPECT_FALSE(original.reasoning.empty());
    EXPECT_EQ(original.finish_reason, "tool_calls");

    auto hit = expect_chat(env, base, "hit", 0);
    auto hj = body_json(hit);
    EXPECT_EQ(hj.value("swapgate_cache", ""), "hit") << hit.body;
    auto replayed = from_response(hj);
    EXPECT_EQ(replayed, original) << hit.body;
    EXPECT_TRUE(hj["usage"].is_object()) << "a non-stream hit carries the original usage";
    EXPECT_TRUE(hj["choices"][0]["message"]["content"].is_null()) << hit.body;

    // The same answer straight from the backend (deterministic) agrees.
    http_client direct(env.sim->port());
    auto d = direct.request("POST", chat_path, base);
    ASSERT_EQ(d.status, 200);
    EXPECT_EQ(from_response(body_json(d)), original);
}

TEST(Cache, NonStreamStoredReplaysAsStreamWithToolCallsAndReasoning) {
    cache_env env;
    for (std::string extra : {weather_tools + R"(,"sim":{"reasoning_tokens":4})", std::string(R"("sim":{"reasoning_tokens":3})")}) {
        SCOPED_TRACE(extra);
        std::string base = det_body("m", "plain then streamed", extra);
        auto plain = store(env, base);
        auto original = from_response(body_json(plain));
        EXPECT_FALSE(original.reasoning.empty()) << plain.body;
        std::string streamed = base.substr(0, base.size() - 1) + R"(,"stream":true})";
        auto s = expect_chat(env, streamed, "hit", 0);
        auto parts = parse_stream(s.body);
        ASSERT_TRUE(parts.done) << s.body;
        ASSERT_FALSE(parts.parse_error) << s.body;
        EXPECT_EQ(merge_stream(parts.chunks), original) << s.body;
        ASSERT_FALSE(parts.chunks.empty());
        EXPECT_EQ(parts.chunks.back().value("swapgate_cache", ""), "hit") << "the final chunk carries the marker";
        for (size_t i = 0; i + 1 < parts.chunks.size(); ++i)
            EXPECT_FALSE(parts.chunks[i].contains("swapgate_cache")) << parts.chunks[i].dump();
        for (const auto& c : parts.chunks) {
            EXPECT_EQ(c.value("object", ""), "chat.completion.chunk") << c.dump();
            for (const auto& ch : c["choices"]) {
                if (!ch["delta"].contains("tool_calls")) continue;
                for (const auto& tc : ch["delta"]["tool_calls"]) EXPECT_EQ(tc.value("index", -1), 0) << c.dump();
            }
        }
    }
}

TEST(Cache, StreamHitReplaysTheSameEvents) {
    cache_env env;
    std::string body = det_body("m", "stream me twice", R"("stream":true,"sim":{"reasoning_tokens":2})");
    auto first = store(env, body);
    auto second = expect_chat(env, body, "hit", 0);
    EXPECT_EQ(second.header("content-type").rfind("text/event-stream", 0), 0u);
    auto a = parse_stream(first.body), b = parse_stream(second.body);
    ASSERT_TRUE(a.done && b.done) << first.body << "\n----\n" << second.body;
    ASSERT_EQ(a.chunks.size(), b.chunks.size()) << first.body << "\n----\n" << second.body;
    std::vector<std::string> pa, pb;
    for (size_t i = 0; i < a.chunks.size(); ++i) {
        EXPECT_EQ(a.chunks[i]["choices"], b.chunks[i]["choices"]) << "chunk " << i;
        EXPECT_EQ(a.chunks[i]["id"], b.chunks[i]["id"]) << "chunk " << i;
        for (const auto* parts : {&a, &b})
            for (const auto& ch : parts->chunks[i]["choices"]) {
                auto& d = ch["delta"];
                std::string piece = d.contains("content") && d["content"].is_string() ? d["content"].get<std::string>() : "";
                (parts == &a ? pa : pb).push_back(piece);
            }
    }
    EXPECT_EQ(pa, pb);
    EXPECT_EQ(merge_stream(a.chunks), merge_stream(b.chunks));
    EXPECT_EQ(b.chunks.back().value("swapgate_cache", ""), "hit");
}

// A stream with two interleaved tool calls (indexes 0 and 1) and reasoning,
// from a scripted upstream: both replay forms keep every call in its place.
TEST(Cache, InterleavedToolCallIndexesSurviveBothReplayForms) {
    scripted_upstream up;
    const std::string env_ = R"("id":"chatcmpl-x","object":"chat.completion.chunk","created":1700000000,"model":"m")";
    auto chunk = [&](const std::string& delta, const std::string& finish = "null") {
        return "data: {" + env_ + R"(,"choices":[{"index":0,"delta":)" + delta + R"(,"finish_reason":)" + finish +
               "}]}\n\n";
    };
    std::vector<std::string> events = {
        chunk(R"({"role":"assistant","content":null})"),
        chunk(R"({"reasoning_content":"Two cities,"})"),
        chunk(R"({"reasoning_content":" two calls."})"),
        chunk(R"({"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]})"),
        chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]})"),
        chunk(R"({"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}]})"),
        chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]})"),
        chunk(R"({"tool_calls":[{"index":1,"function":{"arguments":"{\"tz\":\"CET\"}"}}]})"),
        chunk("{}", R"("tool_calls")"),
        "data: {" + env_ + R"(,"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}})" + "\n\n",
        "data: [DONE]\n\n",
    };
    up.push({{{sse_head + chunked_body(events), {}}}});
    cache_env env({.redis = false, .upstream_url = url_of(up.port())});
    std::string body = det_body("m", "two calls", weather_tools + R"(,"stream":true)");
    auto mark = env.mark();
    auto first = env.chat(body);
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(first.header(hdr), "miss");
    EXPECT_TRUE(env.wait_stored(mark));
    auto a = parse_stream(first.body);
    ASSERT_TRUE(a.done) << first.body;
    auto original = merge_stream(a.chunks);
    ASSERT_EQ(original.tools.size(), 2u);
    EXPECT_EQ(original.tools[0], (tool_call{"call_a", "function", "get_weather", R"({"city":"Paris"})"}));
    EXPECT_EQ(original.tools[1], (tool_call{"call_b", "function", "get_time", R"({"tz":"CET"})"}));
    // The proxy asked for usage to store the answer; the client did not: no usage chunk.
    for (const auto& c : a.chunks) EXPECT_FALSE(c["choices"].empty()) << "usage chunk leaked: " << c.dump();
    {
        auto reqs = up.requests();
        ASSERT_EQ(reqs.size(), 1u);
        auto sent = json::parse(request_body(reqs[0]), nullptr, false);
        EXPECT_EQ(sent["stream_options"]["include_usage"], true) << request_body(reqs[0]);
    }

    auto second = env.chat(body);
    EXPECT_EQ(second.header(hdr), "hit");
    auto b = parse_stream(second.body);
    ASSERT_TRUE(b.done) << second.body;
    ASSERT_EQ(b.chunks.size(), a.chunks.size()) << second.body;
    for (size_t i = 0; i < a.chunks.size(); ++i) EXPECT_EQ(b.chunks[i]["choices"], a.chunks[i]["choices"]) << i;

    std::string plain = det_body("m", "two calls", weather_tools);
    auto third = env.chat(plain);
    EXPECT_EQ(third.header(hdr), "hit") << third.body;
    auto tj = body_json(third);
    EXPECT_EQ(from_response(tj), original) << third.body;
    EXPECT_EQ(tj["usage"]["total_tokens"], 21) << third.body;
    ASSERT_TRUE(tj["choices"][0]["message"]["tool_calls"].is_array()) << third.body;
    EXPECT_EQ(tj["choices"][0]["message"]["tool_calls"][0]["id"], "call_a");
    EXPECT_EQ(tj["choices"][0]["message"]["tool_calls"][1]["id"], "call_b");
    EXPECT_EQ(up.requests().size(), 1u) << "both hits were answered without the upstream";
}

// ---- 6. usage chunk ------------------------------------------------------------------------

bool has_usage_chunk(const stream_parts& s) {
    for (const auto& c : s.chunks)
        if (c.contains("choices") && c["choices"].empty() && c.contains("usage") && c["usage"].is_object()) return true;
    return false;
}

TEST(Cache, UsageChunkOnlyWhenTheClientAskedForIt) {
    cache_env env;
    std::string body = det_body("m", "usage please", R"("stream":true)");
    auto miss = store(env, body);
    auto ms = parse_stream(miss.body);
    ASSERT_TRUE(ms.done) << miss.body;
    EXPECT_FALSE(has_usage_chunk(ms)) << "the usage chunk swapgate asked upstream for leaked:\n" << miss.body;

    auto hit = expect_chat(env, body, "hit", 0);
    auto hs = parse_stream(hit.body);
    ASSERT_TRUE(hs.done);
    EXPECT_FALSE(has_usage_chunk(hs)) << hit.body;

    std::string with_usage = det_body("m", "usage please", R"("stream":true,"stream_options":{"include_usage":true})");
    auto hu = expect_chat(env, with_usage, "hit", 0);
    auto us = parse_stream(hu.body);
    ASSERT_TRUE(us.done);
    ASSERT_TRUE(has_usage_chunk(us)) << hu.body;
    EXPECT_TRUE(us.chunks.back()["choices"].empty()) << "the usage chunk is the last one";

    auto plain = expect_chat(env, det_body("m", "usage please"), "hit", 0);
    auto usage = body_json(plain)["usage"];
    ASSERT_TRUE(usage.is_object()) << plain.body;
    EXPECT_GT(usage.value("completion_tokens", 0), 0);
    EXPECT_EQ(merge_stream(us.chunks).usage, usage) << "the same original usage in both forms";

    // A stream stored from a non-stream answer: synthesised usage chunk on request only.
    std::string other = det_body("m", "usage the other way");
    auto o = store(env, other);
    auto ou = expect_chat(env, det_body("m", "usage the other way", R"("stream":true,"stream_options":{"include_usage":true})"),
                          "hit", 0);
    auto os = parse_stream(ou.body);
    ASSERT_TRUE(has_usage_chunk(os)) << ou.body;
    EXPECT_EQ(merge_stream(os.chunks).usage, body_json(o)["usage"]);
    auto on = expect_chat(env, det_body("m", "usage the other way", R"("stream":true)"), "hit", 0);
    EXPECT_FALSE(has_usage_chunk(parse_stream(on.body))) << on.body;
}

// The usage the proxy asked for on the client's behalf should not show at all:
// OpenAI sends `"usage": null` on every chunk only when include_usage was asked.
TEST(Cache, MissStreamCarriesNothingTheClientDidNotAskFor) {
    cache_env env;
    std::string body = det_body("m", "no usage asked", R"("stream":true)");
    auto miss = store(env, body);
    auto hit = expect_chat(env, body, "hit", 0);
    auto a = parse_stream(miss.body), b = parse_stream(hit.body);
    ASSERT_TRUE(a.done && b.done);
    int with_usage = 0;
    std::string example;
    for (const auto& c : a.chunks)
        if (c.contains("usage")) {
            ++with_usage;
            example = c.dump();
        }
    EXPECT_EQ(with_usage, 0) << "chunks with a \"usage\" member the client never asked for, e.g. " << example;
    ASSERT_EQ(a.chunks.size(), b.chunks.size());
    for (size_t i = 0; i < a.chunks.size(); ++i) {
        json replayed = b.chunks[i];
        replayed.erase("swapgate_cache");
        if (a.chunks[i] != replayed) {
            ADD_FAILURE() << "the miss and its replay differ from chunk " << i << ":\n  miss:   " << a.chunks[i].dump()
                          << "\n  replay: " << replayed.dump();
            break;
        }
    }
}

// The same with a backend that writes JSON the way Python's json.dumps does
// (", " and ": " separators): the injected usage still does not show.
TEST(Cache, InjectedUsageIsHiddenWhateverTheBackendsJsonSpacing) {
    scripted_upstream up;
    const std::string env_ = R"("id": "chatcmpl-y", "object": "chat.completion.chunk", "created": 1700000000, "model": "m")";
    auto chunk = [&](const std::string& delta, const std::string& finish = "null") {
        return "data: {" + env_ + R"(, "choices": [{"index": 0, "delta": )" + delta + R"(, "finish_reason": )" + finish +
               R"(}], "usage": null})" + "\n\n";
    };
    std::vector<std::string> events = {
        chunk(R"({"role": "assistant", "content": ""})"),
        chunk(R"({"content": "Hello"})"),
        chunk(R"({"content": " there"})"),
        chunk("{}", R"("stop")"),
        "data: {" + env_ + R"(, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})" +
            "\n\n",
        "data: [DONE]\n\n",
    };
    up.push({{{sse_head + chunked_body(events), {}}}});
    cache_env env({.redis = false, .upstream_url = url_of(up.port())});
    std::string body = det_body("m", "spaced json", R"("stream":true)");
    auto mark = env.mark();
    auto r = env.chat(body);
    ASSERT_EQ(r.status, 200) << r.body;
    auto s = parse_stream(r.body);
    ASSERT_TRUE(s.done) << r.body;
    EXPECT_FALSE(has_usage_chunk(s)) << r.body;
    int with_usage = 0;
    for (const auto& c : s.chunks) with_usage += c.contains("usage") ? 1 : 0;
    EXPECT_EQ(with_usage, 0) << "\"usage\": null members the client never asked for:\n" << r.body;
    EXPECT_EQ(merge_stream(s.chunks).content, "Hello there");
    // Stored all the same, usage included: a non-stream hit has it.
    ASSERT_TRUE(env.wait_stored(mark));
    auto hit = env.chat(det_body("m", "spaced json"));
    EXPECT_EQ(hit.header(hdr), "hit");
    EXPECT_EQ(body_json(hit)["usage"]["total_tokens"], 5) << hit.body;
}

// ---- 7. incomplete answers are not stored ---------------------------------------------------

// Sends a stream the backend breaks off twice: each time the client sees an
// error event and no [DONE], both go upstream (a miss: nothing was stored), and
// the recording is judged (and refused) before the next try.
void expect_broken_twice(const cache_env& env, const std::string& body) {
    for (int i = 0; i < 2; ++i) {
        auto r = expect_chat(env, body, "miss", 1);
        auto s = parse_stream(r.body);
        EXPECT_FALSE(s.done) << r.body;
        ASSERT_FALSE(s.chunks.empty());
        EXPECT_TRUE(s.chunks.back().contains("error")) << r.body;
        wait_not_complete(env, "m", i + 1);
    }
}

TEST(Cache, StreamTheBackendBreaksOffIsNotStored) {
    cache_env env;
    expect_broken_twice(env, det_body("m", "die midway", R"("stream":true,"sim":{"tokens":10,"die_after_tokens":3})"));
    // The same without stream: a 502, not stored either.
    std::string plain = det_body("m", "die midway plain", R"("sim":{"tokens":10,"die_after_tokens":3})");
    for (int i = 0; i < 2; ++i) {
        long long before = env.sim_requests();
        auto r = env.chat(plain);
        EXPECT_EQ(r.status, 502) << r.body;
        // Went upstream again (at least once: the proxy may retry a failed call).
        EXPECT_GE(env.sim_requests() - before, 1);
    }
    EXPECT_EQ(env.metric(R"(swapgate_cache_stores_total{model="m",outcome="stored"})"), 0);
}

TEST(Cache, StalledStreamCutByTheIdleTimeoutIsNotStored) {
    cache_env env({.backend_extra = "    timeouts: {idle: 300ms}\n"});
    expect_broken_twice(env, det_body("m", "stall midway", R"("stream":true,"sim":{"tokens":10,"stall_after_tokens":3})"));
    EXPECT_EQ(env.metric(R"(swapgate_cache_stores_total{model="m",outcome="stored"})"), 0);
}

TEST(Cache, StreamTheClientLeavesIsNotStored) {
    cache_env env;
    std::string body = det_body("m", "leave midway", R"("stream":true,"sim":{"tokens":12,"token_delay_ms":40})");
    {
        http_client c(env.proxy->port());
        c.send("POST", chat_path, body);
        auto head = c.read_head();
        ASSERT_EQ(head.status, 200);
        EXPECT_EQ(head.header(hdr), "miss");
        ASSERT_TRUE(c.read_chunk().has_value());
        c.close();
    }
    // The proxy notices and gives up the upstream call.
    ASSERT_TRUE(eventually([&] { return sim_stats(env.sim->port())["client_disconnects"].get<long long>() >= 1; }, 10s));
    ASSERT_TRUE(eventually(
        [&] { return env.metric(R"(swapgate_stream_ends_total{reason="client_gone"})") >= 1; }, 10s));
    auto full = store(env, body);
    EXPECT_TRUE(parse_stream(full.body).done) << full.body;
    // Now that one stream was complete, the entry exists.
    expect_chat(env, body, "hit", 0);
}

TEST(Cache, UpstreamErrorsAreNotStored) {
    cache_env env;
    for (std::string extra : {std::string(R"("sim":{"status":500})"), std::string(R"("stream":true,"sim":{"status":500})")}) {
        SCOPED_TRACE(extra);
        std::string body = det_body("m", "fail please", extra);
        for (int i = 0; i < 2; ++i) {
            long long before = env.sim_requests();
            auto r = env.chat(body);
            EXPECT_EQ(r.status, 500) << r.body;
            EXPECT_EQ(r.header(hdr), "miss");
            EXPECT_GE(env.sim_requests() - before, 1) << "went upstream again (retries may add more)";
        }
    }
    EXPECT_EQ(env.metric(R"(swapgate_cache_stores_total{model="m",outcome="stored"})"), 0);
}

TEST(Cache, StreamWithAnErrorChunkIsNotStored) {
    scripted_upstream up;
    std::string events = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":"
                         "{\"role\":\"assistant\",\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n"
                         "data: {\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}\n\n"
                         "data: [DONE]\n\n";
    up.push({{{sse_head + chunked_body({events}), {}}}});
    cache_env env({.redis = false, .upstream_url = url_of(up.port())});
    std::string body = det_body("m", "error chunk", R"("stream":true)");
    for (int i = 0; i < 2; ++i) {
        auto r = env.chat(body);
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.header(hdr), "miss") << "attempt " << i;
        wait_not_complete(env, "m", i + 1);
    }
    EXPECT_EQ(up.requests().size(), 2u);
}

}  // namespace
}  // namespace swapgate::test::cache
