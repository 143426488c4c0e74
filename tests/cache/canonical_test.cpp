#include "cache/canonical.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace swapgate::cache {
namespace {

using nlohmann::json;

std::string canon(const std::string& text) {
    auto j = json::parse(text, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << text;
    return canonical_json(j);
}

TEST(canonical, sorts_keys_and_drops_whitespace) {
    EXPECT_EQ(canon(R"({"b":1,"a":{"d":[1, 2],"c":true}})"), R"({"a":{"c":true,"d":[1,2]},"b":1})");
    EXPECT_EQ(canon("{ \"b\" :\n1 ,\t\"a\":null }"), canon(R"({"a":null,"b":1})"));
}

TEST(canonical, array_order_matters) { EXPECT_NE(canon("[1,2]"), canon("[2,1]")); }

TEST(canonical, number_spellings_of_one_value_agree) {
    EXPECT_EQ(canon("0"), "0");
    EXPECT_EQ(canon("0.0"), "0");
    EXPECT_EQ(canon("-0"), "0");
    EXPECT_EQ(canon("-0.0"), "0");
    EXPECT_EQ(canon("0e10"), "0");
    EXPECT_EQ(canon("1e2"), "100");
    EXPECT_EQ(canon("100.0"), "100");
    EXPECT_EQ(canon("1E+2"), "100");
    EXPECT_EQ(canon("-7.0"), "-7");
    EXPECT_EQ(canon("0.5"), "0.5");
    EXPECT_EQ(canon("5e-1"), "0.5");
    EXPECT_EQ(canon("0.10"), "0.1");
    EXPECT_EQ(canon("1.5e0"), "1.5");
    EXPECT_EQ(canon("9007199254740992.0"), "9007199254740992");
}

TEST(canonical, distinct_numbers_stay_distinct) {
    EXPECT_NE(canon("0.1"), canon("0.2"));
    EXPECT_NE(canon("1"), canon("1.0000001"));
    EXPECT_NE(canon("0.7"), canon("0.70000001"));
    EXPECT_NE(canon("1"), canon("\"1\""));
    EXPECT_NE(canon("0"), canon("false"));
    EXPECT_NE(canon("null"), canon("0"));
}

TEST(canonical, large_and_small_floats_use_shortest_round_trip) {
    EXPECT_EQ(canon("1e20"), "1e+20");
    EXPECT_EQ(canon("1e-7"), "1e-07");
    EXPECT_EQ(canon("0.30000000000000004"), "0.30000000000000004");
    // Integers are exact whatever their size.
    EXPECT_EQ(canon("18446744073709551615"), "18446744073709551615");
    EXPECT_EQ(canon("-9223372036854775808"), "-9223372036854775808");
}

TEST(canonical, string_escapes_are_canonical) {
    EXPECT_EQ(canon(R"("\u00e9")"), canon("\"\xC3\xA9\""));  // é escaped or raw
    EXPECT_EQ(canon(R"("\/")"), "\"/\"");
    EXPECT_EQ(canon(R"("\u0041")"), "\"A\"");
    EXPECT_EQ(canon(R"("a\nb\u0001\t\"\\")"), R"("a\nb\u0001\t\"\\")");
    EXPECT_EQ(canon(R"("\ud83d\ude0a")"), "\"\xF0\x9F\x98\x8A\"");  // surrogate pair -> raw UTF-8
    EXPECT_EQ(canon(R"({"\u0062":1})"), R"({"b":1})");
}

TEST(canonical, invalid_utf8_is_replaced) {
    json j = std::string("a\xFF" "b\xC3");  // stray byte and truncated sequence
    EXPECT_EQ(canonical_json(j), "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\"");
    EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // encoded surrogate
    EXPECT_EQ(sanitize_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
    EXPECT_EQ(sanitize_utf8("ok \xE2\x82\xAC"), "ok \xE2\x82\xAC");
    // Replacement keeps the output valid: nlohmann can parse it back.
    EXPECT_FALSE(json::parse(canonical_json(j), nullptr, false).is_discarded());
}

TEST(canonical, output_parses_back_to_the_same_value) {
    std::string text = R"({"z":[1,2.5,{"y":"\u00fc","x":-0.0}],"a":{"n":1e2,"s":"tab\there"}})";
    auto j = json::parse(text);
    auto c = canonical_json(j);
    EXPECT_EQ(canonical_json(json::parse(c)), c);
    EXPECT_EQ(json::parse(c), json::parse(R"({"z":[1,2.5,{"y":"ü","x":0}],"a":{"n":100,"s":"tab\there"}})"));
}

}  // namespace
}  // namespace swapgate::cache
