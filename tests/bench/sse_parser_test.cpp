#include "bench/load/sse_parser.hpp"

#include "bench/load/rng.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace swapgate::bench {
namespace {

struct collected {
    std::vector<std::string> types, data;
};

collected feed_all(sse_parser& p, const std::vector<std::string>& chunks) {
    collected c;
    for (const auto& chunk : chunks)
        EXPECT_TRUE(p.feed(chunk, [&](const sse_event& e) {
            c.types.emplace_back(e.type);
            c.data.emplace_back(e.data);
        }));
    return c;
}

TEST(SseParser, WholeEvents) {
    sse_parser p;
    auto c = feed_all(p, {"data: {\"a\":1}\n\ndata: [DONE]\n\n"});
    EXPECT_EQ(c.data, (std::vector<std::string>{"{\"a\":1}", "[DONE]"}));
}

TEST(SseParser, EventSplitAtEveryByte) {
    const std::string stream = "data: hello\n\nevent: error\ndata: {\"x\":2}\n\ndata: [DONE]\n\n";
    sse_parser p;
    std::vector<std::string> chunks;
    for (char ch : stream) chunks.emplace_back(1, ch);
    auto c = feed_all(p, chunks);
    EXPECT_EQ(c.data, (std::vector<std::string>{"hello", "{\"x\":2}", "[DONE]"}));
    EXPECT_EQ(c.types, (std::vector<std::string>{"", "error", ""}));
}

TEST(SseParser, CrlfAndCrLineEndingsIncludingSplitCrlf) {
    sse_parser p;
    // The CRLF of the blank line is split across two reads; it must not count as two line ends.
    auto c = feed_all(p, {"data: a\r\n\r", "\ndata: b\r\r", "data: c\n", "\n"});
    EXPECT_EQ(c.data, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(SseParser, CrlfSplitInsideEventIsOneLineEnd) {
    sse_parser p;
    // If the LF after a chunk-final CR counted as a blank line, "a" would be dispatched alone.
    auto c = feed_all(p, {"data: a\r", "\ndata: b\r\n\r\n"});
    EXPECT_EQ(c.data, std::vector<std::string>{"a\nb"});
}

TEST(SseParser, CommentsAndUnknownFieldsIgnored) {
    sse_parser p;
    auto c = feed_all(p, {": keep-alive\n\n", ":ping\nid: 7\nretry: 10\ndata: x\n\n"});
    EXPECT_EQ(c.data, std::vector<std::string>{"x"});
}

TEST(SseParser, MultiLineDataJoinedAndNoSpaceAfterColon) {
    sse_parser p;
    auto c = feed_all(p, {"data:one\ndata:  two\n\n"});
    EXPECT_EQ(c.data, std::vector<std::string>{"one\n two"});
}

TEST(SseParser, IncompleteEventIsNotDispatched) {
    sse_parser p;
    auto c = feed_all(p, {"data: partial\n"});
    EXPECT_TRUE(c.data.empty());
    c = feed_all(p, {"\n"});
    EXPECT_EQ(c.data, std::vector<std::string>{"partial"});
}

TEST(SseParser, DoneMarkerIsPlainData) {
    sse_parser p;
    auto c = feed_all(p, {"data: [DO", "NE]\n", "\n"});
    EXPECT_EQ(c.data, std::vector<std::string>{"[DONE]"});
}

TEST(SseParser, RandomSplitsGiveTheSameEvents) {
    const std::string stream =
        ": c\r\ndata: {\"a\":1}\r\n\r\nevent: x\ndata: 2\ndata: 3\n\n\rdata: 4\r\rdata: [DONE]\r\n\r\n";
    sse_parser whole;
    const auto expected = feed_all(whole, {stream});
    ASSERT_EQ(expected.data, (std::vector<std::string>{"{\"a\":1}", "2\n3", "4", "[DONE]"}));
    rng r(99);
    for (int round = 0; round < 200; ++round) {
        std::vector<std::string> chunks;
        for (std::size_t pos = 0; pos < stream.size();) {
            const auto n = std::min<std::size_t>(stream.size() - pos, r.between(1, 6));
            chunks.push_back(stream.substr(pos, n));
            pos += n;
        }
        sse_parser p;
        auto got = feed_all(p, chunks);
        ASSERT_EQ(got.data, expected.data) << "round " << round;
        ASSERT_EQ(got.types, expected.types) << "round " << round;
    }
}

TEST(SseParser, OverlongLineFails) {
    sse_parser p(8);
    EXPECT_FALSE(p.feed("data: 0123456789", [](const sse_event&) {}));
}

}  // namespace
}  // namespace swapgate::bench
