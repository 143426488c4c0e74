// Shared pieces of the redis_client tests: an io_context on two threads, a way to
// run an awaitable from the test thread with a hang guard, and a recorder for
// the client's up/down callback. Every wait is bounded.
#pragma once
#include "proxy/net/net.hpp"
#include "proxy/redis/redis_client.hpp"
#include "tests/support/redis_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace swapgate::redis::test {

namespace asio = net::asio;
using namespace std::chrono_literals;
using swapgate::test::redis_server;
using swapgate::test::redis_server_options;

// Polls `pred` every 10 ms until it holds or `timeout` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

// The client's on_state calls, in order.
class state_log {
public:
    state_callback callback() {
        return [this](bool up, std::string why) {
            std::lock_guard lock(mu_);
            events_.emplace_back(up, std::move(why));
        };
    }
    std::size_t count(bool up) {
        std::lock_guard lock(mu_);
        std::size_t n = 0;
        for (auto& e : events_) n += e.first == up;
        return n;
    }
    std::string last_why(bool up) {
        std::lock_guard lock(mu_);
        for (auto it = events_.rbegin(); it != events_.rend(); ++it)
            if (it->first == up) return it->second;
        return "";
    }
    std::vector<std::pair<bool, std::string>> all() {
        std::lock_guard lock(mu_);
        return events_;
    }

private:
    std::mutex mu_;
    std::vector<std::pair<bool, std::string>> events_;
};

class RedisClientTest : public ::testing::Test {
protected:
    RedisClientTest() : work_(asio::make_work_guard(ioc_)) {
        for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
    }

    // Every client is gone by now (they are locals of the test body): the
    // io_context must run out of work on its own. If it does not, a coroutine or
    // handler of the client is still waiting on something.
    void TearDown() override {
        if (threads_.empty()) return;
        work_.reset();
        if (!eventually([this] { return ioc_.stopped(); }, 10s)) {
            ADD_FAILURE() << "the io_context still had work 10 s after the clients were destroyed";
            ioc_.stop();
        }
        join();
    }

    // Stops the io_context and joins its threads (to test destruction after that).
    void stop_io() {
        work_.reset();
        ioc_.stop();
        join();
    }

    template <class T>
    std::future<T> spawn(net::awaitable<T> a) {
        return asio::co_spawn(asio::make_strand(ioc_), std::move(a), asio::use_future);
    }

    template <class T>
    static T wait(std::future<T>& f, std::chrono::seconds guard = 30s) {
        if (f.wait_for(guard) != std::future_status::ready)
            throw std::runtime_error("hang guard: an operation did not complete within " +
                                     std::to_string(guard.count()) + " s");
        return f.get();
    }

    template <class T>
    T run(net::awaitable<T> a, std::chrono::seconds guard = 30s) {
        auto f = spawn(std::move(a));
        return wait(f, guard);
    }

    redis_result call(redis_client& c, std::vector<std::string> args) { return run(c.command(std::move(args))); }

    // Settings for `url`; a generous command timeout unless a test is about timeouts
    // (the machine running the tests may be busy).
    static redis_settings settings_for(const std::string& url, std::chrono::milliseconds command_timeout = 5s) {
        redis_settings s;
        std::string why;
        auto u = parse_redis_url(url, why);
        EXPECT_TRUE(u) << url << ": " << why;
        if (u) s.url = *u;
        s.command_timeout = command_timeout;
        s.connect_timeout = 2s;
        s.backoff_max = 500ms;
        return s;
    }

    net::asio::any_io_executor ex() { return ioc_.get_executor(); }

    asio::io_context ioc_;

private:
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::vector<std::thread> threads_;

    void join() {
        for (auto& t : threads_) t.join();
        threads_.clear();
    }
};

}  // namespace swapgate::redis::test
