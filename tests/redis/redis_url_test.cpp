#include "proxy/redis/redis_url.hpp"

#include <gtest/gtest.h>

namespace swapgate::redis {
namespace {

redis_url parse_ok(const std::string& text) {
    std::string why;
    auto u = parse_redis_url(text, why);
    EXPECT_TRUE(u) << text << ": " << why;
    return u.value_or(redis_url{});
}

std::string parse_error(const std::string& text) {
    std::string why;
    auto u = parse_redis_url(text, why);
    EXPECT_FALSE(u) << text << " should be rejected";
    return why;
}

TEST(RedisUrl, HostOnlyDefaultsPortAndDb) {
    auto u = parse_ok("redis://localhost");
    EXPECT_FALSE(u.unix_socket);
    EXPECT_EQ(u.host, "localhost");
    EXPECT_EQ(u.port, 6379);
    EXPECT_EQ(u.db, 0);
    EXPECT_EQ(u.password, "");
    EXPECT_EQ(u.user, "");
    EXPECT_EQ(parse_ok("redis://localhost/").db, 0);
}

TEST(RedisUrl, PortAndDb) {
    auto u = parse_ok("redis://10.0.0.5:6380/3");
    EXPECT_EQ(u.host, "10.0.0.5");
    EXPECT_EQ(u.port, 6380);
    EXPECT_EQ(u.db, 3);
}

TEST(RedisUrl, PasswordOnlyAndUserPassword) {
    auto a = parse_ok("redis://:s3cret@redis:6379/1");
    EXPECT_EQ(a.user, "");
    EXPECT_EQ(a.password, "s3cret");
    EXPECT_EQ(a.host, "redis");
    EXPECT_EQ(a.db, 1);
    auto b = parse_ok("redis://app:pw@redis");
    EXPECT_EQ(b.user, "app");
    EXPECT_EQ(b.password, "pw");
}

TEST(RedisUrl, PercentEncodedAndRawSpecialCharactersInPassword) {
    EXPECT_EQ(parse_ok("redis://:p%40ss%3Aw%2Fd@h").password, "p@ss:w/d");
    // An unescaped '@' or '/' in the password: the last '@' ends the credentials.
    auto u = parse_ok("redis://:a@b/c@h:1/2");
    EXPECT_EQ(u.password, "a@b/c");
    EXPECT_EQ(u.host, "h");
    EXPECT_EQ(u.port, 1);
    EXPECT_EQ(u.db, 2);
}

TEST(RedisUrl, Ipv6) {
    auto u = parse_ok("redis://[::1]:7000/2");
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.port, 7000);
    EXPECT_EQ(u.db, 2);
    EXPECT_EQ(parse_ok("redis://[fe80::1]").port, 6379);
}

TEST(RedisUrl, UnixSocket) {
    auto u = parse_ok("unix:///run/redis/redis.sock");
    EXPECT_TRUE(u.unix_socket);
    EXPECT_EQ(u.path, "/run/redis/redis.sock");
    EXPECT_EQ(u.db, 0);
    auto v = parse_ok("unix:///tmp/r.sock?db=4&password=p%26w&user=app");
    EXPECT_EQ(v.db, 4);
    EXPECT_EQ(v.password, "p&w");
    EXPECT_EQ(v.user, "app");
}

TEST(RedisUrl, RejectsTlsWithAClearMessage) {
    auto why = parse_error("rediss://host:6380");
    EXPECT_NE(why.find("TLS"), std::string::npos) << why;
    EXPECT_NE(why.find("not supported"), std::string::npos) << why;
}

TEST(RedisUrl, ErrorsNameTheProblem) {
    EXPECT_NE(parse_error("http://x").find("redis://"), std::string::npos);
    EXPECT_NE(parse_error("").find("must start with"), std::string::npos);
    EXPECT_NE(parse_error("redis://").find("missing host"), std::string::npos);
    EXPECT_NE(parse_error("redis://:pw@").find("missing host"), std::string::npos);
    EXPECT_NE(parse_error("redis://h:0").find("invalid port '0'"), std::string::npos);
    EXPECT_NE(parse_error("redis://h:70000").find("invalid port '70000'"), std::string::npos);
    EXPECT_NE(parse_error("redis://h:abc").find("invalid port 'abc'"), std::string::npos);
    EXPECT_NE(parse_error("redis://h:").find("empty port"), std::string::npos);
    EXPECT_NE(parse_error("redis://h/x").find("invalid db 'x'"), std::string::npos);
    EXPECT_NE(parse_error("redis://h/-1").find("invalid db '-1'"), std::string::npos);
    EXPECT_NE(parse_error("redis://h/1/2").find("invalid db '1/2'"), std::string::npos);
    EXPECT_NE(parse_error("redis://h?db=1").find("query"), std::string::npos);
    EXPECT_NE(parse_error("redis://user@h").find("user:password"), std::string::npos);
    EXPECT_NE(parse_error("redis://user:@h").find("empty password"), std::string::npos);
    EXPECT_NE(parse_error("redis://:p%4@h").find("percent-escape"), std::string::npos);
    EXPECT_NE(parse_error("redis://[::1").find("IPv6"), std::string::npos);
    EXPECT_NE(parse_error("unix://relative.sock").find("absolute"), std::string::npos);
    EXPECT_NE(parse_error("unix:///tmp/r.sock?db=x").find("invalid db 'x'"), std::string::npos);
    EXPECT_NE(parse_error("unix:///tmp/r.sock?timeout=1").find("unknown parameter 'timeout'"), std::string::npos);
    EXPECT_NE(parse_error("unix:///tmp/r.sock?user=app").find("needs a password"), std::string::npos);
    EXPECT_NE(parse_error("unix:///" + std::string(107, 's')).find("allow 107"), std::string::npos);
    EXPECT_TRUE(parse_ok("unix:///" + std::string(106, 's')).unix_socket);
    // Every message says it is about the Redis URL.
    EXPECT_EQ(parse_error("redis://h:0").rfind("redis URL: ", 0), 0u);
}

TEST(RedisUrl, DisplayHidesThePassword) {
    EXPECT_EQ(display_url(parse_ok("redis://:secret@h:7/2")), "redis://:***@h:7/2");
    EXPECT_EQ(display_url(parse_ok("redis://app:secret@[::1]")), "redis://app:***@[::1]:6379/0");
    EXPECT_EQ(display_url(parse_ok("redis://h")), "redis://h:6379/0");
    EXPECT_EQ(display_url(parse_ok("unix:///s.sock?db=3&password=x")), "unix:///s.sock?password=***&db=3");
}

}  // namespace
}  // namespace swapgate::redis
