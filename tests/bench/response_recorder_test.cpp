#include "bench/load/response_recorder.hpp"

#include <gtest/gtest.h>

namespace swapgate::bench {
namespace {

using ms = std::chrono::milliseconds;
const bench_clock::time_point t0{};

std::string chunk(const std::string& delta) {
    return "data: {\"choices\":[{\"index\":0,\"delta\":" + delta + "}]}\n\n";
}

TEST(ResponseRecorder, StreamTtftGapsAndContentCount) {
    response_recorder r(t0);
    r.on_headers(200, "text/event-stream; charset=utf-8", "miss");
    EXPECT_TRUE(r.on_body(chunk(R"({"role":"assistant"})"), t0 + ms(5)));   // no content: not a token
    EXPECT_TRUE(r.on_body(chunk(R"({"content":"Hel"})"), t0 + ms(20)));
    EXPECT_TRUE(r.on_body(chunk(R"({"content":"lo"})") + chunk(R"({"reasoning_content":"hm"})"), t0 + ms(30)));
    EXPECT_TRUE(r.on_body(chunk(R"({"tool_calls":[{"index":0}]})"), t0 + ms(45)));
    EXPECT_TRUE(r.on_body(chunk(R"({"content":""})") + "data: [DONE]\n\n", t0 + ms(50)));
    auto res = r.finish(t0 + ms(60));
    EXPECT_TRUE(res.ok());
    EXPECT_DOUBLE_EQ(res.latency_ms, 60);
    ASSERT_TRUE(res.ttft_ms);
    EXPECT_DOUBLE_EQ(*res.ttft_ms, 20);
    EXPECT_EQ(res.itl_ms, (std::vector<double>{10, 0, 15}));
    EXPECT_EQ(res.output_tokens, 4u);
    EXPECT_EQ(res.cache, "miss");
}

TEST(ResponseRecorder, UsageOverridesContentCount) {
    response_recorder r(t0);
    r.on_headers(200, "text/event-stream", "");
    r.on_body(chunk(R"({"content":"a"})"), t0 + ms(1));
    r.on_body(R"(data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":17}})" "\n\n", t0 + ms(2));
    auto res = r.finish(t0 + ms(3));
    EXPECT_EQ(res.output_tokens, 17u);
}

TEST(ResponseRecorder, CompletionsTextCountsAsContent) {
    response_recorder r(t0);
    r.on_headers(200, "text/event-stream", "");
    r.on_body(R"(data: {"choices":[{"text":"hi"}]})" "\n\n", t0 + ms(7));
    auto res = r.finish(t0 + ms(9));
    EXPECT_EQ(res.ttft_ms, 7);
    EXPECT_EQ(res.output_tokens, 1u);
}

TEST(ResponseRecorder, MidStreamErrorEvent) {
    response_recorder r(t0);
    r.on_headers(200, "text/event-stream", "");
    r.on_body(chunk(R"({"content":"a"})"), t0 + ms(1));
    r.on_body(R"(data: {"error":{"message":"upstream died","type":"server_error"}})" "\n\n", t0 + ms(2));
    auto res = r.finish(t0 + ms(3));
    EXPECT_TRUE(res.stream_error);
    EXPECT_FALSE(res.ok());
    EXPECT_EQ(res.error_key(), "stream_error");
}

TEST(ResponseRecorder, SseErrorEventType) {
    response_recorder r(t0);
    r.on_headers(200, "text/event-stream", "");
    r.on_body("event: error\ndata: oops\n\n", t0 + ms(1));
    EXPECT_EQ(r.finish(t0 + ms(2)).error_key(), "stream_error");
}

TEST(ResponseRecorder, NonStreamUsesLatencyAsTtftAndUsage) {
    response_recorder r(t0);
    r.on_headers(200, "application/json", "hit");
    r.on_body(R"({"choices":[{"message":{"content":"x"}}],"usage":{"compl)", t0 + ms(3));
    r.on_body(R"(etion_tokens":42}})", t0 + ms(4));
    auto res = r.finish(t0 + ms(5));
    EXPECT_TRUE(res.ok());
    EXPECT_EQ(res.ttft_ms, 5);
    EXPECT_TRUE(res.itl_ms.empty());
    EXPECT_EQ(res.output_tokens, 42u);
    EXPECT_EQ(res.cache, "hit");
}

TEST(ResponseRecorder, HttpErrorStatus) {
    response_recorder r(t0);
    r.on_headers(503, "text/event-stream", "");   // error statuses are never parsed as streams
    r.on_body("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n", t0 + ms(1));
    auto res = r.finish(t0 + ms(2));
    EXPECT_EQ(res.error_key(), "503");
}

TEST(ResponseRecorder, TransportFailure) {
    response_recorder r(t0);
    auto res = r.fail(request_result::failure::timeout, t0 + ms(9));
    EXPECT_EQ(res.error_key(), "timeout");
    EXPECT_DOUBLE_EQ(res.latency_ms, 9);
}

TEST(ChunkHasContent, Cases) {
    EXPECT_TRUE(chunk_has_content(R"({"choices":[{"delta":{"content":"x"}}]})"));
    EXPECT_FALSE(chunk_has_content(R"({"choices":[{"delta":{"content":null}}]})"));
    EXPECT_FALSE(chunk_has_content(R"({"choices":[{"delta":{"tool_calls":[]}}]})"));
    EXPECT_FALSE(chunk_has_content("not json"));
}

}  // namespace
}  // namespace swapgate::bench
