// redis_client against a real redis-server on loopback: commands, pipelining,
// AUTH, SELECT, unix sockets.
#include "tests/redis/client_fixture.hpp"

#include <atomic>
#include <random>

namespace swapgate::redis::test {
namespace {

using namespace std::string_literals;

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(gen() & 0xff);
    return s;
}

TEST_F(RedisClientTest, SetGetDelAndExpiry) {
    redis_server redis;
    redis_client c(ex(), settings_for(redis.url()));

    auto r = call(c, {"SET", "k", "v"});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_TRUE(r.reply.is_status());
    EXPECT_EQ(r.reply.str, "OK");
    r = call(c, {"GET", "k"});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_TRUE(r.reply.is_string());
    EXPECT_EQ(r.reply.str, "v");
    r = call(c, {"DEL", "k"});
    ASSERT_TRUE(r.reply.is_integer()) << describe(r.reply);
    EXPECT_EQ(r.reply.integer, 1);
    r = call(c, {"GET", "k"});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_TRUE(r.reply.is_nil());

    // PX: the key carries a TTL and is gone once it passes.
    ASSERT_TRUE(call(c, {"SET", "e", "x", "PX", "200"}).ok());
    r = call(c, {"PTTL", "e"});
    ASSERT_TRUE(r.reply.is_integer());
    EXPECT_LE(r.reply.integer, 200);
    EXPECT_TRUE(r.reply.integer > 0 || r.reply.integer == -2) << r.reply.integer;
    EXPECT_TRUE(eventually([&] { return call(c, {"GET", "e"}).reply.is_nil(); }, 5s));

    EXPECT_TRUE(c.available());
    auto n = c.counters();
    EXPECT_GE(n.commands, 7u);
    EXPECT_EQ(n.errors, 0u);
    EXPECT_EQ(n.timeouts, 0u);
}

TEST_F(RedisClientTest, BinaryKeysAndValuesWithNulAndCrlf) {
    redis_server redis;
    redis_client c(ex(), settings_for(redis.url()));
    std::string key = "k\0\r\n"s;
    std::string value = "\0\r\n$3\r\n*1\r\n+OK\r\n\0"s;
    for (int b = 0; b < 256; ++b) value += static_cast<char>(b);
    ASSERT_TRUE(call(c, {"SET", key, value}).ok());
    auto r = call(c, {"GET", key});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.reply.str, value);
    EXPECT_TRUE(call(c, {"GET", "k"}).reply.is_nil());  // the key's NUL is part of it
}

TEST_F(RedisClientTest, OneMegabyteValue) {
    redis_server redis;
    redis_client c(ex(), settings_for(redis.url()));
    std::string value = random_bytes(1 << 20, 7);
    auto r = call(c, {"SET", "big", value});
    ASSERT_TRUE(r.ok()) << r.message;
    r = call(c, {"GET", "big"});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.reply.str.size(), value.size());
    EXPECT_TRUE(r.reply.str == value);
    r = call(c, {"STRLEN", "big"});
    EXPECT_EQ(r.reply.integer, 1 << 20);
}

TEST_F(RedisClientTest, ServerErrorsAndEmptyCommands) {
    redis_server redis;
    redis_client c(ex(), settings_for(redis.url()));
    auto r = call(c, {"NOSUCHCOMMAND", "x"});
    EXPECT_EQ(r.failure, redis_failure::server_error);
    EXPECT_TRUE(r.reply.is_error());
    EXPECT_NE(r.message.find("unknown command"), std::string::npos) << r.message;
    r = call(c, {});
    EXPECT_EQ(r.failure, redis_failure::invalid_command);
    // The connection is still good, replies still in order.
    r = call(c, {"ECHO", "after"});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.reply.str, "after");
    r = call(c, {"HSET", "h", "a", "1", "b", "2"});
    ASSERT_TRUE(r.ok());
    r = call(c, {"HGETALL", "h"});
    ASSERT_TRUE(r.reply.is_array()) << describe(r.reply);
    EXPECT_EQ(r.reply.elements.size(), 4u);
}

struct tally {
    std::atomic<int> good{0};
    std::atomic<int> done{0};
    int total = 0;
    std::promise<void> all_done;
    std::mutex mu;
    std::string first_bad;

    void record(bool ok, const std::string& what) {
        if (ok) ++good;
        else {
            std::lock_guard lock(mu);
            if (first_bad.empty()) first_bad = what;
        }
        if (++done == total) all_done.set_value();
    }
};

std::string key_of(int i) { return "key:" + std::to_string(i); }
std::string value_of(int i) { return "value:" + std::to_string(i) + ":" + std::string(i % 50, 'x'); }

net::awaitable<void> set_one(redis_client* c, int i, std::shared_ptr<tally> t) {
    // A named vector: GCC 12 rejects a braced list inside co_await ("array used as initializer").
    std::vector<std::string> args{"SET", key_of(i), value_of(i)};
    auto r = co_await c->command(std::move(args));
    t->record(r.ok() && r.reply.str == "OK", key_of(i) + ": " + r.message + " " + describe(r.reply));
}

net::awaitable<void> get_one(redis_client* c, int i, std::shared_ptr<tally> t) {
    std::vector<std::string> args{"GET", key_of(i)};
    auto r = co_await c->command(std::move(args));
    t->record(r.ok() && r.reply.str == value_of(i), key_of(i) + " got " + describe(r.reply) + " " + r.message);
}

// 10k commands in flight at once from coroutines on 8 strands over 2 threads:
// every one gets its own reply.
TEST_F(RedisClientTest, TenThousandConcurrentCommandsEachGetTheirOwnReply) {
    redis_server redis;
    redis_client c(ex(), settings_for(redis.url(), 30s));  // this test is about matching, not speed
    ASSERT_TRUE(eventually([&] { return c.available(); }));
    constexpr int n = 10000;
    std::vector<asio::strand<asio::io_context::executor_type>> strands;
    for (int i = 0; i < 8; ++i) strands.push_back(asio::make_strand(ioc_));

    for (int phase = 0; phase < 2; ++phase) {
        // Shared with the coroutines: the last one may still be leaving set_value().
        auto t = std::make_shared<tally>();
        t->total = n;
        auto done = t->all_done.get_future();
        for (int i = 0; i < n; ++i) {
            if (phase == 0) asio::co_spawn(strands[i % 8], set_one(&c, i, t), asio::detached);
            else asio::co_spawn(strands[i % 8], get_one(&c, i, t), asio::detached);
        }
        ASSERT_EQ(done.wait_for(60s), std::future_status::ready) << "hang guard: commands did not complete";
        std::lock_guard lock(t->mu);
        EXPECT_EQ(t->good.load(), n) << (phase == 0 ? "SET" : "GET") << " first bad: " << t->first_bad;
    }
    // Both pooled connections carried the load.
    auto info = call(c, {"INFO", "clients"});
    EXPECT_NE(info.reply.str.find("connected_clients:2\r\n"), std::string::npos) << info.reply.str;
    EXPECT_EQ(c.counters().commands, 2u * n + 1);
    EXPECT_EQ(c.counters().errors, 0u);
}

TEST_F(RedisClientTest, PasswordAuth) {
    redis_server redis({.password = "s3cret"});
    {
        redis_client c(ex(), settings_for(redis.url()));
        auto r = call(c, {"PING"});
        ASSERT_TRUE(r.ok()) << r.message;
        EXPECT_EQ(r.reply.str, "PONG");
        // A user with its own password, for the user:password form.
        r = call(c, {"ACL", "SETUSER", "app", "on", ">apppw", "~*", "+@all"});
        ASSERT_TRUE(r.ok()) << r.message;
    }
    {
        auto s = settings_for(redis.url());
        s.url.user = "app";
        s.url.password = "apppw";
        redis_client c(ex(), s);
        auto r = call(c, {"ACL", "WHOAMI"});
        ASSERT_TRUE(r.ok()) << r.message;
        EXPECT_EQ(r.reply.str, "app");
    }
    {
        state_log log;
        auto s = settings_for(redis.url());
        s.url.password = "wrong";
        redis_client c(ex(), s, log.callback());
        auto r = call(c, {"PING"});
        EXPECT_EQ(r.failure, redis_failure::unavailable) << r.message;
        EXPECT_NE(r.message.find("AUTH failed"), std::string::npos) << r.message;
        EXPECT_NE(r.message.find("WRONGPASS"), std::string::npos) << r.message;
        EXPECT_FALSE(c.available());
        ASSERT_TRUE(eventually([&] { return log.count(false) == 1; }));
        EXPECT_NE(log.last_why(false).find("AUTH failed"), std::string::npos) << log.last_why(false);
        EXPECT_EQ(log.count(true), 0u);
        // While in backoff: failed at once, with the reason.
        r = call(c, {"PING"});
        EXPECT_EQ(r.failure, redis_failure::unavailable);
        EXPECT_NE(r.message.find("WRONGPASS"), std::string::npos) << r.message;
    }
    {
        auto s = settings_for(redis.url());
        s.url.password.clear();
        redis_client c(ex(), s);
        auto r = call(c, {"PING"});
        EXPECT_EQ(r.failure, redis_failure::server_error);
        EXPECT_NE(r.message.find("NOAUTH"), std::string::npos) << r.message;
    }
}

TEST_F(RedisClientTest, SelectIsolatesDatabases) {
    redis_server redis;
    redis_client db1(ex(), settings_for(redis.url(1)));
    redis_client db2(ex(), settings_for(redis.url(2)));
    ASSERT_TRUE(call(db1, {"SET", "k", "one"}).ok());
    EXPECT_TRUE(call(db2, {"GET", "k"}).reply.is_nil());
    ASSERT_TRUE(call(db2, {"SET", "k", "two"}).ok());
    EXPECT_EQ(call(db1, {"GET", "k"}).reply.str, "one");
    EXPECT_EQ(call(db2, {"GET", "k"}).reply.str, "two");
    redis_client db0(ex(), settings_for(redis.url()));
    EXPECT_TRUE(call(db0, {"GET", "k"}).reply.is_nil());
    auto s = settings_for(redis.url(999));
    redis_client bad(ex(), s);
    auto r = call(bad, {"PING"});
    EXPECT_EQ(r.failure, redis_failure::unavailable);
    EXPECT_NE(r.message.find("SELECT 999 failed"), std::string::npos) << r.message;
}

TEST_F(RedisClientTest, UnixSocketWithPasswordAndDb) {
    redis_server redis({.password = "pw", .unix_socket = true});
    redis_client c(ex(), settings_for(redis.url(3)));
    auto r = call(c, {"SET", "k", "v"});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(call(c, {"GET", "k"}).reply.str, "v");
    redis_client other_db(ex(), settings_for(redis.url(0)));
    EXPECT_TRUE(call(other_db, {"GET", "k"}).reply.is_nil());
    EXPECT_TRUE(c.available());
}

}  // namespace
}  // namespace swapgate::redis::test
