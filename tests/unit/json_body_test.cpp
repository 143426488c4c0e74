#include "proxy/json_body.hpp"

#include <gtest/gtest.h>

namespace swapgate::proxy {
namespace {

std::optional<api_error> check(endpoint ep, const std::string& body, request_info* out = nullptr) {
    request_info info;
    auto e = parse_request(ep, body, info);
    if (out) *out = info;
    return e;
}

TEST(ParseRequest, ValidChat) {
    request_info info;
    EXPECT_FALSE(check(endpoint::chat,
                       R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}})",
                       &info));
    EXPECT_EQ(info.model, "m");
    EXPECT_TRUE(info.stream);
    EXPECT_TRUE(info.include_usage);
}

TEST(ParseRequest, ContentPartsAndNullContentAreFine) {
    EXPECT_FALSE(check(endpoint::chat,
                       R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}]},{"role":"assistant","content":null,"tool_calls":[]}]})"));
}

TEST(ParseRequest, ErrorsNameTheField) {
    struct c {
        endpoint ep;
        const char* body;
        const char* param;
        const char* code;
    };
    for (const auto& t : {
             c{endpoint::chat, "not json", "", "invalid_json"},
             c{endpoint::chat, "[1]", "", "invalid_json"},
             c{endpoint::chat, R"({"messages":[]})", "model", "missing_required_parameter"},
             c{endpoint::chat, R"({"model":5,"messages":[]})", "model", "invalid_type"},
             c{endpoint::chat, R"({"model":"","messages":[]})", "model", "invalid_value"},
             c{endpoint::chat, R"({"model":"m"})", "messages", "missing_required_parameter"},
             c{endpoint::chat, R"({"model":"m","messages":{}})", "messages", "invalid_type"},
             c{endpoint::chat, R"({"model":"m","messages":[]})", "messages", "empty_array"},
             c{endpoint::chat, R"({"model":"m","messages":["x"]})", "messages[0]", "invalid_type"},
             c{endpoint::chat, R"({"model":"m","messages":[{"role":1}]})", "messages[0].role", "invalid_type"},
             c{endpoint::chat, R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content", "invalid_type"},
             c{endpoint::chat, R"({"model":"m","messages":[{"role":"user"}],"stream":1})", "stream", "invalid_type"},
             c{endpoint::chat, R"({"model":"m","messages":[{"role":"user"}],"stream_options":{"include_usage":"y"}})",
               "stream_options.include_usage", "invalid_type"},
             c{endpoint::completions, R"({"model":"m"})", "prompt", "missing_required_parameter"},
             c{endpoint::embeddings, R"({"model":"m","input":[]})", "input", "empty_array"},
             c{endpoint::embeddings, R"({"model":"m","input":[[1,"a"]]})", "input[0]", "invalid_type"},
             c{endpoint::embeddings, R"({"model":"m","input":7})", "input", "invalid_type"},
         }) {
        auto e = check(t.ep, t.body);
        ASSERT_TRUE(e) << t.body;
        EXPECT_EQ(e->status, 400) << t.body;
        EXPECT_EQ(e->param, t.param) << t.body;
        EXPECT_EQ(e->code, t.code) << t.body;
    }
}

TEST(ParseRequest, EmbeddingInputsOfEveryShape) {
    for (const char* b : {R"({"model":"m","input":"a"})", R"({"model":"m","input":["a","b"]})",
                          R"({"model":"m","input":[1,2,3]})", R"({"model":"m","input":[[1,2],[3]]})"})
        EXPECT_FALSE(check(endpoint::embeddings, b)) << b;
}

TEST(FindTopLevel, FindsOnlyTheTopLevelKey) {
    std::string b = R"({"messages":[{"model":"inner"}],"x":{"model":"deep"},"model" : "outer","y":1})";
    auto s = find_top_level_string(b, "model");
    ASSERT_TRUE(s);
    EXPECT_EQ(b.substr(s->first, s->second - s->first), "\"outer\"");
}

TEST(FindTopLevel, LastDuplicateWinsAndNonStringsAreNotStrings) {
    std::string b = R"({"model":"a","model":"b"})";
    auto s = find_top_level_string(b, "model");
    ASSERT_TRUE(s);
    EXPECT_EQ(b.substr(s->first, s->second - s->first), "\"b\"");
    EXPECT_FALSE(find_top_level_string(R"({"model":5})", "model"));
    auto v = find_top_level_value(R"({"usage":{"a":[1,{"b":"}"}]},"z":0})", "usage");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->second - v->first, std::string(R"({"a":[1,{"b":"}"}]})").size());
}

TEST(FindTopLevel, MalformedInputsAreHandled) {
    for (const char* b : {"", "{", "[]", R"({"model")", R"({"model":)", R"({"model":"x)", R"({"a":1 "model":"x"})"})
        EXPECT_FALSE(find_top_level_string(b, "model")) << b;
}

TEST(RewriteModel, ChangesOnlyThoseBytes) {
    std::string b = "{ \"z\": 1.50, \"model\" :\t\"fast\" , \"n\":[1e3]}";
    EXPECT_EQ(rewrite_model(b, "big/\"model\""), "{ \"z\": 1.50, \"model\" :\t\"big/\\\"model\\\"\" , \"n\":[1e3]}");
}

TEST(ParseRequest, AmbiguousModelKeysAreRefused) {
    // Routing would use one "model" and a backend another: never forward such a body.
    for (const char* b : {R"({"model":"a","model":"b","messages":[{"role":"user"}]})",
                          R"({"model":"a","m\u006fdel":"b","messages":[{"role":"user"}]})",
                          R"({"mod\u0065l":"a","messages":[{"role":"user"}]})"}) {
        auto e = check(endpoint::chat, b);
        ASSERT_TRUE(e) << b;
        EXPECT_EQ(e->status, 400) << b;
        EXPECT_EQ(e->param, "model") << b;
    }
}

TEST(ExtractUsage, ReadsTokens) {
    auto u = extract_usage(R"({"id":"x","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}})");
    EXPECT_EQ(u.prompt, 12);
    EXPECT_EQ(u.completion, 3);
    auto none = extract_usage(R"({"usage":null})");
    EXPECT_EQ(none.prompt, -1);
    EXPECT_EQ(extract_usage("garbage").completion, -1);
}

}  // namespace
}  // namespace swapgate::proxy
