// Internal to redis_client: one Redis connection (socket + decoder), opening it
// under a deadline (connect, AUTH, SELECT), reading one reply, and the pool of
// connections kept for blocking commands. Everything here runs on the client's
// strand; nothing here blocks a thread.
#pragma once
#include "proxy/net/net.hpp"
#include "proxy/redis/redis_client.hpp"

#include <boost/asio/generic/stream_protocol.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace swapgate::redis {

using clock = std::chrono::steady_clock;

redis_result make_failure(redis_failure kind, std::string message);
// ok() with the reply, or server_error when the reply is an error.
redis_result make_result(redis_reply reply);
std::string io_error_text(const net::error_code& ec);

struct link {
    explicit link(const net::asio::any_io_executor& strand);
    // Closes the socket on purpose: every pending operation ends, and the
    // coroutine using the link sees `closed` when it resumes.
    void close();

    net::asio::generic::stream_protocol::socket sock;  // TCP or unix
    net::asio::ip::tcp::resolver resolver;
    net::asio::steady_timer guard;  // deadline of the current operation
    resp_decoder decoder;
    std::vector<char> rbuf;
    std::uint64_t guard_gen = 0;  // makes a stale guard expiry a no-op
    bool timed_out = false;       // the guard fired (and closed the link)
    bool closed = false;
    bool busy = false;            // blocking pool: a command is using it
};

// Closes the link at `at` unless disarmed first.
void arm_guard(const std::shared_ptr<link>& l, clock::time_point at);
void disarm_guard(link& l);

// Connects and sends AUTH/SELECT as the URL asks, all within `timeout`.
// "" when the link is ready, else why not ("connection refused", "AUTH failed: ...").
net::awaitable<std::string> open_link(std::shared_ptr<link> l, redis_url url, std::chrono::milliseconds timeout);

struct read_result {
    redis_reply reply;
    std::string error;  // empty when `reply` is set
};
// Reads until one whole reply is decoded.
net::awaitable<read_result> read_reply(std::shared_ptr<link> l);

// Connections for blocking commands, opened on demand, reused, at most `max`.
struct blocking_pool {
    blocking_pool(net::asio::any_io_executor strand, redis_url url, std::chrono::milliseconds connect_timeout,
                  std::size_t max)
        : strand(std::move(strand)), url(std::move(url)), connect_timeout(connect_timeout), max(max) {}
    void close_all();  // shutdown: pending commands end with `shutdown`

    net::asio::any_io_executor strand;
    redis_url url;
    std::chrono::milliseconds connect_timeout;
    std::size_t max;
    std::vector<std::shared_ptr<link>> links;
    bool closed = false;
};

// Runs one command on an idle (or new) blocking connection; the connection is
// dropped after a timeout, cancellation or error, and reused after a reply. A
// reused connection found closed by the server is replaced once.
net::awaitable<redis_result> run_blocking(std::shared_ptr<blocking_pool> pool, std::string bytes,
                                          clock::time_point deadline);

}  // namespace swapgate::redis
