// redis_client when things go wrong: Redis killed and restarted, nothing
// listening, commands timing out, blocking commands, cancellation, shutdown.
#include "tests/redis/client_fixture.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <map>

namespace swapgate::redis::test {
namespace {

// Index 0: the command finished first; 1: the timer did (the command was cancelled).
net::awaitable<std::size_t> race_with_timer(net::awaitable<redis_result> cmd, std::chrono::milliseconds after) {
    using namespace asio::experimental::awaitable_operators;
    net::steady_timer t(co_await asio::this_coro::executor, after);
    auto r = co_await (std::move(cmd) || t.async_wait());
    co_return r.index();
}

std::map<redis_failure, int> count_failures(std::vector<redis_result>& results) {
    std::map<redis_failure, int> m;
    for (auto& r : results) ++m[r.failure];
    return m;
}

TEST_F(RedisClientTest, FailsFastWhenNothingListens) {
    int port = 0;
    {
        redis_server probe;  // a port that was just free; nothing listens once it is gone
        port = probe.port();
    }
    state_log log;
    redis_client c(ex(), settings_for("redis://127.0.0.1:" + std::to_string(port)), log.callback());
    auto r = call(c, {"PING"});
    EXPECT_EQ(r.failure, redis_failure::unavailable) << r.message;
    EXPECT_NE(r.message.find("refused"), std::string::npos) << r.message;
    ASSERT_TRUE(eventually([&] { return log.count(false) == 1; }));
    EXPECT_NE(log.last_why(false).find("refused"), std::string::npos) << log.last_why(false);
    EXPECT_FALSE(c.available());
    auto blocking = run(c.blocking_command({"BLPOP", "q", "1"}, 5s));
    EXPECT_EQ(blocking.failure, redis_failure::unavailable);
    EXPECT_GE(c.counters().errors, 2u);
}

TEST_F(RedisClientTest, ServerKilledFailsFastThenReconnectsAfterRestart) {
    redis_server redis;
    state_log log;
    redis_client c(ex(), settings_for(redis.url()), log.callback());
    ASSERT_TRUE(call(c, {"SET", "k", "v"}).ok());
    ASSERT_TRUE(eventually([&] { return log.count(true) == 1; }));
    EXPECT_NE(log.last_why(true).find("connected to redis://127.0.0.1:"), std::string::npos);

    redis.stop();
    // A command racing the kill may fail as connection_lost; then the client knows.
    ASSERT_TRUE(eventually([&] {
        call(c, {"PING"});
        return !c.available();
    }));
    ASSERT_TRUE(eventually([&] { return log.count(false) == 1; }));
    EXPECT_FALSE(log.last_why(false).empty());

    // Down: 200 concurrent commands all complete, each with `unavailable`.
    std::vector<std::future<redis_result>> futures;
    for (int i = 0; i < 200; ++i) futures.push_back(spawn(c.command({"GET", "k"})));
    std::vector<redis_result> results;
    for (auto& f : futures) results.push_back(wait(f));
    auto kinds = count_failures(results);
    EXPECT_EQ(kinds[redis_failure::unavailable], 200) << results.front().message;
    EXPECT_NE(results.front().message.find("redis unavailable: "), std::string::npos) << results.front().message;

    redis.restart();
    ASSERT_TRUE(eventually([&] { return call(c, {"PING"}).ok(); }, 20s)) << "no reconnect after the restart";
    EXPECT_TRUE(c.available());
    EXPECT_TRUE(call(c, {"GET", "k"}).reply.is_nil());  // a fresh server: nothing persisted
    EXPECT_TRUE(eventually([&] { return log.count(true) == 2; }));
    EXPECT_EQ(log.count(false), 1u);  // transitions only
    EXPECT_GE(c.counters().reconnects, 1u);
    EXPECT_GE(c.counters().errors, 200u);
}

// A command unanswered within command_timeout completes with `timeout`; its
// connection is reset, so the late replies are never handed to later commands.
TEST_F(RedisClientTest, TimeoutResetsTheConnectionAndRepliesStayMatched) {
    redis_server redis;
    redis_client admin(ex(), settings_for(redis.url()));
    redis_client c(ex(), settings_for(redis.url(), 50ms));
    constexpr int n = 20;
    for (int i = 0; i < n; ++i)
        ASSERT_TRUE(call(admin, {"SET", "k" + std::to_string(i), "v" + std::to_string(i)}).ok());
    ASSERT_TRUE(eventually([&] { return c.available(); }));

    ASSERT_TRUE(call(admin, {"CLIENT", "PAUSE", "500", "ALL"}).ok());
    std::vector<std::future<redis_result>> futures;
    for (int i = 0; i < n; ++i) futures.push_back(spawn(c.command({"GET", "k" + std::to_string(i)})));
    std::vector<redis_result> during;
    for (auto& f : futures) during.push_back(wait(f));
    auto kinds = count_failures(during);
    EXPECT_GE(kinds[redis_failure::timeout], 1);
    for (int i = 0; i < n; ++i) {
        if (during[i].ok()) EXPECT_EQ(during[i].reply.str, "v" + std::to_string(i));
        else EXPECT_NE(during[i].message, "");
    }
    auto timed_out = std::find_if(during.begin(), during.end(),
                                  [](auto& r) { return r.failure == redis_failure::timeout; });
    ASSERT_NE(timed_out, during.end());
    EXPECT_NE(timed_out->message.find("timed out after 50 ms"), std::string::npos) << timed_out->message;
    EXPECT_GE(c.counters().timeouts, 1u);

    // After the pause every key reads back its own value, over and over.
    int correct = 0;
    ASSERT_TRUE(eventually([&] {
        for (int i = 0; i < n; ++i) {
            auto r = call(c, {"GET", "k" + std::to_string(i)});
            if (!r.ok()) return false;  // still paused, or the machine is slow: try again
            EXPECT_EQ(r.reply.str, "v" + std::to_string(i)) << "reply matched to the wrong command";
            ++correct;
        }
        return true;
    }, 20s));
    EXPECT_GE(correct, n);
}

TEST_F(RedisClientTest, BlockingXreadGetsAnEntryAddedFromThePool) {
    redis_server redis;
    redis_client c(ex(), settings_for(redis.url()));
    ASSERT_TRUE(eventually([&] { return c.available(); }));
    auto pending = spawn(c.blocking_command({"XREAD", "BLOCK", "10000", "STREAMS", "jobs", "$"}, 20s));
    // The pooled connections stay usable while the server holds the XREAD.
    ASSERT_TRUE(eventually([&] {
        return call(c, {"INFO", "clients"}).reply.str.find("blocked_clients:1\r\n") != std::string::npos;
    }));
    auto id = call(c, {"XADD", "jobs", "*", "field", "value"});
    ASSERT_TRUE(id.ok()) << id.message;
    auto r = wait(pending);
    ASSERT_TRUE(r.ok()) << r.message;
    // [[ "jobs", [[id, ["field", "value"]]] ]]
    ASSERT_EQ(r.reply.elements.size(), 1u) << describe(r.reply);
    const auto& stream = r.reply.elements[0];
    ASSERT_EQ(stream.elements.size(), 2u) << describe(r.reply);
    EXPECT_EQ(stream.elements[0].str, "jobs");
    ASSERT_EQ(stream.elements[1].elements.size(), 1u) << describe(r.reply);
    const auto& entry = stream.elements[1].elements[0];
    ASSERT_EQ(entry.elements.size(), 2u) << describe(r.reply);
    EXPECT_EQ(entry.elements[0].str, id.reply.str);
    EXPECT_EQ(describe(entry.elements[1]), "[\"field\", \"value\"]");

    // BLOCK runs out: a nil reply, on the reused connection.
    r = run(c.blocking_command({"XREAD", "BLOCK", "50", "STREAMS", "jobs", "$"}, 5s));
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_TRUE(r.reply.is_nil());
    // The call's own timeout shorter than BLOCK: a timeout, and the connection goes.
    r = run(c.blocking_command({"XREAD", "BLOCK", "5000", "STREAMS", "jobs", "$"}, 100ms));
    EXPECT_EQ(r.failure, redis_failure::timeout) << r.message;
    r = run(c.blocking_command({"XREAD", "COUNT", "10", "STREAMS", "jobs", "0"}, 5s));
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.reply.elements.size(), 1u);
    EXPECT_EQ(run(c.blocking_command({}, 1s)).failure, redis_failure::invalid_command);
}

TEST_F(RedisClientTest, BlockingConnectionsAreBounded) {
    redis_server redis;
    auto s = settings_for(redis.url());
    s.max_blocking_connections = 1;
    redis_client c(ex(), s);
    ASSERT_TRUE(eventually([&] { return c.available(); }));
    auto first = spawn(c.blocking_command({"BLPOP", "q", "10"}, 20s));
    ASSERT_TRUE(eventually([&] {
        return call(c, {"INFO", "clients"}).reply.str.find("blocked_clients:1\r\n") != std::string::npos;
    }));
    auto second = run(c.blocking_command({"BLPOP", "q", "10"}, 20s));
    EXPECT_EQ(second.failure, redis_failure::busy) << second.message;
    ASSERT_TRUE(call(c, {"RPUSH", "q", "item"}).ok());
    auto r = wait(first);
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(describe(r.reply), "[\"q\", \"item\"]");
}

// A caller cancelled by `||` resumes at once, not after its timeout; the
// client keeps working (the late reply of a cancelled command is dropped).
TEST_F(RedisClientTest, CancelledCallsCompleteAtOnce) {
    redis_server redis;
    redis_client admin(ex(), settings_for(redis.url()));
    redis_client c(ex(), settings_for(redis.url(), 30s));
    ASSERT_TRUE(call(admin, {"SET", "a", "1"}).ok());
    ASSERT_TRUE(call(admin, {"SET", "b", "2"}).ok());
    ASSERT_TRUE(eventually([&] { return c.available(); }));

    auto blocking = c.blocking_command({"XREAD", "BLOCK", "20000", "STREAMS", "s", "$"}, 60s);
    EXPECT_EQ(run(race_with_timer(std::move(blocking), 100ms), 10s), 1u);

    ASSERT_TRUE(call(admin, {"CLIENT", "PAUSE", "300", "ALL"}).ok());
    EXPECT_EQ(run(race_with_timer(c.command({"GET", "a"}), 50ms), 10s), 1u);
    EXPECT_GE(c.counters().errors, 2u);  // both cancellations

    ASSERT_TRUE(eventually([&] { return call(c, {"GET", "b"}).ok(); }, 20s));
    EXPECT_EQ(call(c, {"GET", "b"}).reply.str, "2");
    EXPECT_EQ(call(c, {"GET", "a"}).reply.str, "1");
    auto r = run(c.blocking_command({"XREAD", "BLOCK", "10", "STREAMS", "s", "$"}, 5s));
    EXPECT_TRUE(r.ok()) << r.message;
}

TEST_F(RedisClientTest, ShutdownAndDestructionCompleteCommandsInFlight) {
    redis_server redis;
    redis_client admin(ex(), settings_for(redis.url()));
    for (int round = 0; round < 2; ++round) {
        auto c = std::make_unique<redis_client>(ex(), settings_for(redis.url(), 30s));
        ASSERT_TRUE(eventually([&] { return c->available(); }));
        auto blocked = spawn(c->blocking_command({"BLPOP", "never", "20"}, 60s));
        ASSERT_TRUE(eventually([&] {
            return call(admin, {"INFO", "clients"}).reply.str.find("blocked_clients:1\r\n") != std::string::npos;
        }));
        ASSERT_TRUE(call(admin, {"CLIENT", "PAUSE", "1000", "ALL"}).ok());
        std::vector<std::future<redis_result>> futures;
        for (int i = 0; i < 100; ++i) futures.push_back(spawn(c->command({"GET", "k"})));
        // Not needed for correctness (queued or written, all must end): lets most get written.
        std::this_thread::sleep_for(50ms);
        if (round == 0) c->shutdown();
        else c.reset();
        for (auto& f : futures) {
            auto r = wait(f, std::chrono::seconds(10));
            EXPECT_EQ(r.failure, redis_failure::shutdown) << r.message;
        }
        auto r = wait(blocked, std::chrono::seconds(10));
        EXPECT_EQ(r.failure, redis_failure::shutdown) << r.message;
        if (c) {
            EXPECT_FALSE(c->available());
            EXPECT_EQ(call(*c, {"PING"}).failure, redis_failure::shutdown);
            EXPECT_EQ(run(c->blocking_command({"PING"}, 1s)).failure, redis_failure::shutdown);
        }
        ASSERT_TRUE(eventually([&] { return call(admin, {"PING"}).ok(); }, 20s));  // the pause ends
    }
}

TEST_F(RedisClientTest, DestroyedAfterTheIoContextStopped) {
    redis_server redis;
    auto c = std::make_unique<redis_client>(ex(), settings_for(redis.url()));
    ASSERT_TRUE(call(*c, {"PING"}).ok());
    auto blocked = spawn(c->blocking_command({"BLPOP", "never", "20"}, 60s));
    stop_io();
    c.reset();  // no crash, no hang; its state goes with the io_context
}

}  // namespace
}  // namespace swapgate::redis::test
