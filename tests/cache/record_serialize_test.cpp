#include "cache/completion_record.hpp"
#include "cache/recorder.hpp"
#include "cache/replay.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace swapgate::cache {
namespace {

using nlohmann::json;
using test::read_fixture;
using test::sse_payloads;

replay_options opts(bool include_usage) {
    replay_options o;
    o.include_usage = include_usage;
    o.marker.clear();
    return o;
}

std::vector<completion_record> fixture_records() {
    std::vector<completion_record> out;
    for (auto f : {"openai/chat_stream.sse", "openai/chat_tool_call_stream.sse", "llama-server/chat_stream.sse"}) {
        completion_recorder r;
        for (const auto& p : sse_payloads(f)) r.feed_event(p);
        out.push_back(*r.finish());
    }
    for (auto f : {"openai/chat_completion.json", "openai/chat_tool_call.json", "openai/completion.json",
                   "llama-server/chat_completion.json"}) {
        completion_recorder r;
        r.feed_response(read_fixture(f));
        out.push_back(*r.finish());
    }
    return out;
}

TEST(record_serialize, round_trip_replays_identically) {
    for (const auto& rec : fixture_records()) {
        auto bytes = serialize_record(rec, 1 << 20);
        ASSERT_TRUE(bytes);
        auto back = deserialize_record(*bytes);
        ASSERT_TRUE(back);
        EXPECT_EQ(back->from_stream(), rec.from_stream());
        EXPECT_EQ(back->chat(), rec.chat());
        EXPECT_EQ(to_response_json(*back, opts(false)), to_response_json(rec, opts(false)));
        EXPECT_EQ(to_sse_events(*back, opts(true)), to_sse_events(rec, opts(true)));
        EXPECT_EQ(to_sse_events(*back, opts(false)), to_sse_events(rec, opts(false)));
        // Deterministic: the same record always serialises to the same bytes.
        EXPECT_EQ(serialize_record(*back, 1 << 20), bytes);
    }
}

TEST(record_serialize, streams_are_stored_compactly) {
    std::string raw = read_fixture("openai/chat_stream.sse");
    completion_recorder r;
    for (const auto& p : sse_payloads("openai/chat_stream.sse")) r.feed_event(p);
    auto bytes = serialize_record(*r.finish(), 1 << 20);
    ASSERT_TRUE(bytes);
    // The envelope (id, model, created, ...) is stored once, not per chunk.
    EXPECT_LT(bytes->size(), raw.size() * 2 / 3) << *bytes;
}

TEST(record_serialize, max_entry_size_is_enforced) {
    auto rec = fixture_records().front();
    auto bytes = serialize_record(rec, 1 << 20);
    ASSERT_TRUE(bytes);
    EXPECT_TRUE(serialize_record(rec, bytes->size()));
    EXPECT_FALSE(serialize_record(rec, bytes->size() - 1));
}

TEST(record_serialize, rejects_garbage_and_other_versions) {
    EXPECT_FALSE(deserialize_record(""));
    EXPECT_FALSE(deserialize_record("not json"));
    EXPECT_FALSE(deserialize_record("[]"));
    EXPECT_FALSE(deserialize_record(R"({"v":1})"));
    EXPECT_FALSE(deserialize_record(R"({"v":1,"src":"stream","env":{},"chunks":[]})"));  // nothing finished
    auto bytes = *serialize_record(fixture_records().front(), 1 << 20);
    auto j = json::parse(bytes);
    j["v"] = 999;
    EXPECT_FALSE(deserialize_record(j.dump()));
    // A stored stream that lost its finish chunk is not served.
    auto cut = json::parse(bytes);
    cut["chunks"].erase(cut["chunks"].size() - 2);
    EXPECT_FALSE(deserialize_record(cut.dump()));
}

}  // namespace
}  // namespace swapgate::cache
