#include "proxy/sse.hpp"

#include <gtest/gtest.h>

namespace swapgate::proxy {
namespace {

// Feeds `text` in pieces of `step` bytes; returns the events and the forwarded bytes.
std::pair<std::vector<sse_event>, std::string> run(const std::string& text, size_t step, bool finish = true) {
    sse_parser p;
    std::vector<sse_event> events;
    std::string forwarded;
    auto drain = [&] {
        for (const auto& e : p.events()) events.push_back(e);
        forwarded += p.complete_bytes();
        p.consume();
    };
    for (size_t i = 0; i < text.size(); i += step) {
        p.feed(text.substr(i, step));
        drain();
    }
    if (finish) {
        p.finish();
        drain();
    }
    return {events, forwarded};
}

const std::string stream =
    "data: {\"a\":1}\n\n"
    ": keep-alive\n\n"
    "event: message\r\ndata: {\"b\":2}\r\n\r\n"
    "data: line1\rdata: line2\r\r"
    "data: [DONE]\n\n";

TEST(Sse, EventsAndBytesAreTheSameWhateverTheSplits) {
    for (size_t step : {1, 2, 3, 5, 7, 64, 4096}) {
        auto [events, bytes] = run(stream, step);
        ASSERT_EQ(events.size(), 5u) << "step " << step;
        EXPECT_EQ(events[0].data, "{\"a\":1}");
        EXPECT_TRUE(events[1].comment_only);
        EXPECT_FALSE(events[1].has_data);
        EXPECT_EQ(events[2].event, "message");
        EXPECT_EQ(events[2].data, "{\"b\":2}");
        EXPECT_EQ(events[3].data, "line1\nline2");
        EXPECT_EQ(events[4].data, "[DONE]");
        EXPECT_EQ(bytes, stream) << "step " << step;  // byte-faithful
    }
}

TEST(Sse, IncompleteEventIsHeldBack) {
    sse_parser p;
    p.feed("data: {\"a\":1}\n\ndata: {\"b\"");
    ASSERT_EQ(p.events().size(), 1u);
    EXPECT_EQ(p.complete_bytes(), "data: {\"a\":1}\n\n");
    p.consume();
    EXPECT_EQ(p.incomplete_bytes(), "data: {\"b\"");
    EXPECT_TRUE(p.events().empty());
    p.feed(":2}\n\n");
    ASSERT_EQ(p.events().size(), 1u);
    EXPECT_EQ(p.events()[0].data, "{\"b\":2}");
}

TEST(Sse, CrAtTheEndOfAReadWaitsForAPossibleLf) {
    sse_parser p;
    p.feed("data: x\r\n\r");
    EXPECT_TRUE(p.events().empty());  // "\r" may be the start of "\r\n"
    p.feed("\n");
    ASSERT_EQ(p.events().size(), 1u);
    EXPECT_EQ(p.complete_bytes(), "data: x\r\n\r\n");
}

TEST(Sse, FinishFlushesALastEventWithoutItsBlankLine) {
    auto [events, bytes] = run("data: a\n\ndata: tail", 4);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].data, "tail");
    EXPECT_EQ(bytes, "data: a\n\ndata: tail");
}

TEST(Sse, DataWithoutSpaceAndEmptyData) {
    auto [events, bytes] = run("data:x\n\ndata\n\n", 100);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].data, "x");
    EXPECT_TRUE(events[1].has_data);
    EXPECT_EQ(events[1].data, "");
}

TEST(Sse, BlankLinesAloneMakeNoEvents) {
    auto [events, bytes] = run("\n\n\ndata: a\n\n", 1);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(bytes, "\n\n\ndata: a\n\n");
}

}  // namespace
}  // namespace swapgate::proxy

namespace swapgate::proxy {
namespace {

TEST(Sse, EventSpansCoverTheirBytes) {
    sse_parser p;
    std::string text = "data: a\n\n\nerror: {\"message\":\"x\"}\n\ndata: b\n\n";
    p.feed(text);
    ASSERT_EQ(p.events().size(), 3u);
    auto raw = p.complete_bytes();
    EXPECT_EQ(raw.substr(p.events()[0].begin, p.events()[0].end - p.events()[0].begin), "data: a\n\n");
    EXPECT_EQ(p.events()[1].error, "{\"message\":\"x\"}");
    EXPECT_FALSE(p.events()[1].comment_only);
    EXPECT_EQ(p.events()[2].end, text.size());
    EXPECT_EQ(p.events()[1].end, p.events()[2].begin);
}

}  // namespace
}  // namespace swapgate::proxy
