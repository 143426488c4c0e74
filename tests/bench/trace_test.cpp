#include "bench/load/trace.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace swapgate::bench {
namespace {

trace_result parse(std::string_view text, trace_defaults d = {}) { return parse_trace(text, d); }

TEST(Trace, ValidLinesSortedByTime) {
    auto r = parse(
        R"({"t":0.5,"model":"b","messages":[{"role":"user","content":"x"}],"stream":true,"max_tokens":50,"extra":{"temperature":0}})"
        "\n\n"
        R"({"t":0.1,"model":"a","endpoint":"embeddings","input":["p","q"]})" "\r\n"
        R"({"t":0.3,"model":"c","endpoint":"completions","prompt":"hello"})" "\n");
    ASSERT_TRUE(r.ok()) << r.error;
    ASSERT_EQ(r.entries.size(), 3u);
    EXPECT_DOUBLE_EQ(r.entries[0].t_s, 0.1);
    EXPECT_EQ(r.entries[0].spec.ep, endpoint::embeddings);
    EXPECT_EQ(r.entries[0].line, 3u);
    EXPECT_EQ(r.entries[1].spec.ep, endpoint::completions);
    const auto& chat = r.entries[2];
    EXPECT_EQ(chat.spec.ep, endpoint::chat);
    EXPECT_TRUE(chat.spec.stream);
    auto j = nlohmann::json::parse(chat.spec.body);
    EXPECT_EQ(j["model"], "b");
    EXPECT_EQ(j["max_tokens"], 50);
    EXPECT_EQ(j["temperature"], 0);
    EXPECT_EQ(j["stream"], true);
}

TEST(Trace, GlobalExtraThenLineExtraAndIncludeUsage) {
    trace_defaults d;
    d.extra = R"({"temperature":1,"top_p":0.5})";
    d.include_usage = true;
    auto r = parse(R"({"t":0,"model":"a","messages":[],"stream":true,"extra":{"temperature":0}})", d);
    ASSERT_TRUE(r.ok()) << r.error;
    auto j = nlohmann::json::parse(r.entries[0].spec.body);
    EXPECT_EQ(j["temperature"], 0);
    EXPECT_EQ(j["top_p"], 0.5);
    EXPECT_EQ(j["stream_options"]["include_usage"], true);
}

TEST(Trace, BadJsonNamesLine) {
    auto r = parse("{\"t\":0,\"model\":\"a\",\"messages\":[]}\n{not json\n");
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error, "trace line 2: invalid JSON");
}

TEST(Trace, MissingFieldNamesLineAndField) {
    auto r = parse("{\"t\":0,\"model\":\"a\",\"messages\":[]}\n\n{\"model\":\"a\",\"messages\":[]}\n");
    EXPECT_EQ(r.error, "trace line 3: missing field \"t\"");
    r = parse(R"({"t":0,"messages":[]})");
    EXPECT_EQ(r.error, "trace line 1: missing field \"model\"");
    r = parse(R"({"t":0,"model":"a"})");
    EXPECT_EQ(r.error, "trace line 1: missing field \"messages\"");
    r = parse(R"({"t":0,"model":"a","endpoint":"embeddings"})");
    EXPECT_EQ(r.error, "trace line 1: missing field \"input\"");
}

TEST(Trace, WrongTypeNamesLineAndField) {
    auto r = parse(R"({"t":"soon","model":"a","messages":[]})");
    EXPECT_NE(r.error.find("trace line 1: field \"t\""), std::string::npos) << r.error;
    r = parse("\n" R"({"t":1,"model":"a","messages":[],"stream":"yes"})");
    EXPECT_NE(r.error.find("trace line 2: field \"stream\""), std::string::npos) << r.error;
    r = parse(R"({"t":1,"model":"a","messages":[],"max_tokens":1.5})");
    EXPECT_NE(r.error.find("field \"max_tokens\""), std::string::npos) << r.error;
    r = parse(R"({"t":1,"model":7,"messages":[]})");
    EXPECT_NE(r.error.find("field \"model\""), std::string::npos) << r.error;
    r = parse(R"({"t":1,"model":"a","messages":"hi"})");
    EXPECT_NE(r.error.find("field \"messages\""), std::string::npos) << r.error;
    r = parse(R"({"t":1,"model":"a","messages":[],"endpoint":"images"})");
    EXPECT_NE(r.error.find("field \"endpoint\""), std::string::npos) << r.error;
    r = parse(R"({"t":-1,"model":"a","messages":[]})");
    EXPECT_NE(r.error.find("field \"t\""), std::string::npos) << r.error;
    r = parse(R"({"t":1,"model":"a","messages":[],"extra":[1]})");
    EXPECT_NE(r.error.find("field \"extra\""), std::string::npos) << r.error;
    r = parse(R"([1,2])");
    EXPECT_EQ(r.error, "trace line 1: expected a JSON object");
}

TEST(Trace, EmptyTraceIsAnError) {
    EXPECT_FALSE(parse("\n  \n").ok());
    EXPECT_FALSE(load_trace("/nonexistent/trace.jsonl", {}).ok());
}

}  // namespace
}  // namespace swapgate::bench
