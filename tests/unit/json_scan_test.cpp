#include "proxy/json_scan.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include <random>

namespace swapgate::proxy::json_scan {
namespace {

bool ok(std::string_view s) {
    std::string e;
    return validate(s, e);
}

TEST(JsonScan, AcceptsValidJson) {
    for (const char* s : {"{}", "[]", "0", "-0", "1.5e-3", "-12.0E+7", "\"\"", "true", "false", "null", " {\"a\" : [1, {\"b\":null}] } ",
                          "\"\\u00e9\\n\\t\\\"\\\\\\/\"", "\"\\ud83d\\ude00\"", "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"",
                          "[[[[[]]]]]", "{\"a\":{\"a\":{\"a\":1}}}"})
        EXPECT_TRUE(ok(s)) << s;
}

TEST(JsonScan, RejectsInvalidJson) {
    for (const char* s : {"", " ", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "{'a':1}", "01", "1.", ".5", "1e", "+1", "-",
                          "tru", "nul", "True", "\"abc", "\"\\x\"", "\"\\u12G4\"", "\"\\ud800\"", "\"\\udc00\"",
                          "\"\\ud800\\u0041\"", "[1 2]", "{\"a\" 1}", "1 2", "{} x", "\"\x01\"", "\"\xff\"",
                          "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\""})
        EXPECT_FALSE(ok(s)) << s;
}

TEST(JsonScan, DepthIsBounded) {
    std::string deep = std::string(300, '[') + std::string(300, ']');
    std::string e;
    EXPECT_FALSE(validate(deep, e));
    EXPECT_NE(e.find("nesting too deep"), std::string::npos);
    EXPECT_TRUE(validate(deep, e, 400));
}

TEST(JsonScan, ErrorsSayWhere) {
    std::string e;
    EXPECT_FALSE(validate("{\"model\": tru}", e));
    EXPECT_NE(e.find("at byte 10"), std::string::npos) << e;
}

// Differential test: on random mutations of valid documents, validate() agrees
// with nlohmann's parser (which the project otherwise trusts).
TEST(JsonScan, AgreesWithNlohmannOnMutations) {
    const std::vector<std::string> seeds = {
        R"({"model":"m","messages":[{"role":"user","content":"h\u00e9llo \"x\""}],"temperature":0.5,"stream":true})",
        R"([1,-2.5e3,true,false,null,{"a":[]},"s\\t"])",
        R"({"input":[[1,2],[3]],"x":{"y":{"z":"\ud83d\ude00"}}})",
    };
    const std::string alphabet = "{}[]\",:0123456789.eE+-tfnulrasx\\ \n\t\x01\x7f\xc3\xa9\xff";
    std::mt19937 rng(12345);
    int checked = 0;
    for (const auto& seed : seeds) {
        for (int round = 0; round < 4000; ++round) {
            std::string s = seed;
            int edits = 1 + static_cast<int>(rng() % 3);
            for (int k = 0; k < edits && !s.empty(); ++k) {
                size_t pos = rng() % s.size();
                switch (rng() % 3) {
                    case 0: s[pos] = alphabet[rng() % alphabet.size()]; break;
                    case 1: s.erase(pos, 1); break;
                    default: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
                }
            }
            bool theirs = !nlohmann::json::parse(s, nullptr, false).is_discarded();
            EXPECT_EQ(ok(s), theirs) << s;
            ++checked;
        }
    }
    EXPECT_EQ(checked, 12000);
}

TEST(JsonScan, CursorReadsMembersAndElements) {
    std::string s = R"( {"a" : 1, "b":[ "x", {"c":"}\"]"}, [2] ], "a": "last", "esc":"q\"\\\n\u00e9\ud83d\ude00"} )";
    ASSERT_TRUE(ok(s));
    value r = root(s);
    EXPECT_EQ(r.type(), kind::object);
    EXPECT_EQ(r.size(), 4u);
    auto a = r.member("a");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->as_string(), "last");  // the last duplicate wins, as in nlohmann
    auto b = r.member("b");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->size(), 3u);
    auto cur = b->elements();
    EXPECT_EQ(cur.next()->as_string(), "x");
    auto obj = cur.next();
    EXPECT_EQ(obj->member("c")->as_string(), "}\"]");
    EXPECT_EQ(cur.next()->type(), kind::array);
    EXPECT_FALSE(cur.next());
    EXPECT_EQ(r.member("esc")->as_string(), "q\"\\\n\xc3\xa9\xf0\x9f\x98\x80");
    EXPECT_FALSE(r.member("missing"));
    EXPECT_FALSE(root("[]").elements().next());
    EXPECT_TRUE(root("3").is_integer());
    EXPECT_FALSE(root("3.0").is_integer());
    // Members in order, keys as written, duplicates included.
    auto ms = r.members();
    std::vector<std::string> keys, values;
    for (auto m = ms.next(); m; m = ms.next()) {
        keys.emplace_back(m->first);
        values.emplace_back(m->second.text);
    }
    EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "a", "esc"}));
    EXPECT_EQ(values[0], "1");
    EXPECT_EQ(values[2], "\"last\"");
    EXPECT_FALSE(root("{}").members().next());
    EXPECT_FALSE(root(" { } ").members().next());
    EXPECT_FALSE(root("[1]").members().next());
}

}  // namespace
}  // namespace swapgate::proxy::json_scan
