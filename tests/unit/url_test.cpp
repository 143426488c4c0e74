#include "config/url.hpp"

#include <gtest/gtest.h>

namespace swapgate::config {
namespace {

TEST(Url, HttpWithPortAndPath) {
    std::string why;
    auto u = parse_url("http://127.0.0.1:8080/v1/", why);
    ASSERT_TRUE(u) << why;
    EXPECT_FALSE(u->tls);
    EXPECT_EQ(u->host, "127.0.0.1");
    EXPECT_EQ(u->port, 8080);
    EXPECT_EQ(u->base_path, "/v1");
    EXPECT_EQ(u->host_header, "127.0.0.1:8080");
}

TEST(Url, HttpsDefaultsPort443AndOmitsItFromHost) {
    std::string why;
    auto u = parse_url("https://api.openai.com/v1", why);
    ASSERT_TRUE(u);
    EXPECT_TRUE(u->tls);
    EXPECT_EQ(u->port, 443);
    EXPECT_EQ(u->host_header, "api.openai.com");
}

TEST(Url, Ipv6AndNoPath) {
    std::string why;
    auto u = parse_url("http://[::1]:11434", why);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->base_path, "");
    EXPECT_EQ(u->host_header, "[::1]:11434");
}

TEST(Url, Rejects) {
    std::string why;
    EXPECT_FALSE(parse_url("ftp://x", why));
    EXPECT_FALSE(parse_url("http://", why));
    EXPECT_FALSE(parse_url("http://h:0/", why));
    EXPECT_FALSE(parse_url("http://h:abc/", why));
    EXPECT_FALSE(parse_url("http://user:pw@h/", why));
    EXPECT_FALSE(parse_url("http://h/v1?x=1", why));
    EXPECT_FALSE(parse_url("http://[::1/", why));
}

}  // namespace
}  // namespace swapgate::config
