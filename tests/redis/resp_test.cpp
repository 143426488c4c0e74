#include "proxy/redis/resp.hpp"

#include <gtest/gtest.h>

namespace swapgate::redis {
namespace {

using namespace std::string_literals;

std::vector<redis_reply> decode_all(resp_decoder& d, const std::string& bytes) {
    EXPECT_TRUE(d.feed(bytes.data(), bytes.size()));
    std::vector<redis_reply> out;
    redis_reply r;
    while (d.next(r) == resp_decoder::status::reply) out.push_back(std::move(r));
    return out;
}

TEST(Resp, EncodesCommandsBinarySafe) {
    EXPECT_EQ(encode_command({"GET", "k"}), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    std::string value = "a\0b\r\nc"s;
    ASSERT_EQ(value.size(), 6u);
    EXPECT_EQ(encode_command({"SET", "k", value}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\n"s + value + "\r\n");
    EXPECT_EQ(encode_command({"ECHO", ""}), "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
    std::string out = "x";
    append_command(out, {"PING"});
    EXPECT_EQ(out, "x*1\r\n$4\r\nPING\r\n");
}

TEST(Resp, DecodesEveryKind) {
    resp_decoder d;
    auto replies = decode_all(d, "+OK\r\n-ERR wrong\r\n:42\r\n:-7\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n"
                                 "*3\r\n:1\r\n$1\r\na\r\n*1\r\n$0\r\n\r\n");
    ASSERT_EQ(replies.size(), 8u);
    EXPECT_TRUE(replies[0].is_status());
    EXPECT_EQ(replies[0].str, "OK");
    EXPECT_TRUE(replies[1].is_error());
    EXPECT_EQ(replies[1].str, "ERR wrong");
    EXPECT_TRUE(replies[2].is_integer());
    EXPECT_EQ(replies[2].integer, 42);
    EXPECT_EQ(replies[3].integer, -7);
    EXPECT_TRUE(replies[4].is_string());
    EXPECT_EQ(replies[4].str, "hello");
    EXPECT_TRUE(replies[5].is_nil());
    EXPECT_TRUE(replies[6].is_nil());
    ASSERT_TRUE(replies[7].is_array());
    ASSERT_EQ(replies[7].elements.size(), 3u);
    EXPECT_EQ(replies[7].elements[0].integer, 1);
    EXPECT_EQ(replies[7].elements[1].str, "a");
    ASSERT_EQ(replies[7].elements[2].elements.size(), 1u);
    EXPECT_EQ(replies[7].elements[2].elements[0].str, "");
    EXPECT_EQ(describe(replies[7]), "[1, \"a\", [\"\"]]");
}

TEST(Resp, BulkStringsKeepNulAndCrlf) {
    resp_decoder d;
    std::string value = "\0\r\n\0x\r\n"s;
    auto replies = decode_all(d, "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n");
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].str, value);
    EXPECT_EQ(describe(replies[0]), "\"\\x00\\x0d\\x0a\\x00x\\x0d\\x0a\"");
}

TEST(Resp, ReassemblesRepliesFedByteByByte) {
    std::string stream = "*2\r\n$3\r\nfoo\r\n*2\r\n:1\r\n$-1\r\n+PONG\r\n";
    resp_decoder d;
    std::vector<redis_reply> got;
    redis_reply r;
    for (char c : stream) {
        ASSERT_TRUE(d.feed(&c, 1));
        while (d.next(r) == resp_decoder::status::reply) got.push_back(std::move(r));
    }
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(describe(got[0]), "[\"foo\", [1, (nil)]]");
    EXPECT_EQ(got[1].str, "PONG");
    EXPECT_EQ(d.next(r), resp_decoder::status::need_more);
}

TEST(Resp, LargeBulkInPieces) {
    std::string value(1 << 20, 'v');
    std::string stream = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
    resp_decoder d;
    redis_reply r;
    for (size_t i = 0; i < stream.size(); i += 16384) {
        ASSERT_TRUE(d.feed(stream.data() + i, std::min<size_t>(16384, stream.size() - i)));
        if (i + 16384 < stream.size()) {
            EXPECT_EQ(d.next(r), resp_decoder::status::need_more);
        }
    }
    ASSERT_EQ(d.next(r), resp_decoder::status::reply);
    EXPECT_EQ(r.str.size(), value.size());
    EXPECT_EQ(r.str, value);
}

TEST(Resp, ProtocolErrorIsReported) {
    resp_decoder d;
    std::string junk = "?what\r\n";
    d.feed(junk.data(), junk.size());
    redis_reply r;
    EXPECT_EQ(d.next(r), resp_decoder::status::protocol_error);
    EXPECT_FALSE(d.error().empty());
}

}  // namespace
}  // namespace swapgate::redis
