// An asynchronous Redis client on Asio coroutines. hiredis is only the RESP
// encoder/decoder (resp.hpp); all socket I/O is Asio's, and no thread ever
// blocks on Redis.
//
// Design
// - Pool: `pool_size` connections (TCP or unix socket), owned by one strand of
//   the client. Each runs a coroutine: connect (+ AUTH, SELECT), read replies,
//   and on failure reconnect with backoff.
// - Pipelining: command() may be called from any thread or strand, by any number
//   of coroutines at once. The request is encoded on the caller's thread, then
//   queued on the least loaded connection; whatever is queued is written in one
//   batch, and replies are matched to requests in FIFO order. The caller resumes
//   on its own executor (the completion is posted to it, never run inline).
// - Timeouts: every command has a deadline (`command_timeout`). A command still
//   unanswered at its deadline completes with `timeout`, and its connection is
//   reset (replies after it would be matched to the wrong requests otherwise):
//   the other commands on that connection fail with `connection_lost`.
// - Fail-open: a connection in reconnect backoff takes no commands. With no
//   connection ready, command() completes at once with `unavailable` (the reason
//   in the message), except while a connection is making its first attempt or
//   reconnecting right after a drop: then commands wait for it, bounded by their
//   deadline. The proxy treats any failure as a cache miss.
// - Reconnect: a connection that drops after being up for 1 s or more
//   reconnects at once; a failed connect, or a drop sooner than that, waits
//   `backoff_initial`, doubling up to `backoff_max`. `on_state` is called on
//   transitions only (up <-> down), on the client strand.
// - blocking_command() (XREAD BLOCK...) runs on separate connections, opened
//   lazily and reused, never on the pipelined ones (a blocked connection would
//   hold up every command behind it).
// - Cancellation: a caller's coroutine cancelled while it awaits command() or
//   blocking_command() (e.g. by `||`) resumes with `cancelled` at once. A
//   cancelled blocking command drops its connection.
// - shutdown(): closes the connections, completes pending commands with
//   `shutdown`, stops reconnecting. The destructor calls it; the internal state
//   lives on until the last handler holding it runs or is destroyed, so
//   destroying the client is safe whether the io_context runs or has stopped
//   (the io_context itself must outlive the client object).
#pragma once
#include "proxy/net/net.hpp"
#include "proxy/redis/redis_url.hpp"
#include "proxy/redis/resp.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace swapgate::redis {

struct redis_settings {
    redis_url url;                                      // parse_redis_url()
    std::size_t pool_size = 2;                          // pipelined connections
    std::chrono::milliseconds connect_timeout{200};     // TCP connect + AUTH + SELECT
    std::chrono::milliseconds command_timeout{50};      // per command()
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{5000};
    std::size_t max_blocking_connections = 4;           // concurrent blocking_command()s
};

// Why a command got no usable reply.
enum class redis_failure {
    none,
    unavailable,      // no connection up (in backoff): failed at once
    timeout,          // no reply within the deadline; the connection was reset
    connection_lost,  // the connection dropped (or was reset) with this command on it
    server_error,     // the server replied with an error ("-ERR ..."): reply holds it
    protocol_error,   // the reply could not be parsed; the connection was dropped
    invalid_command,  // an empty command
    busy,             // all max_blocking_connections in use
    cancelled,        // the caller's coroutine was cancelled
    shutdown,         // shutdown() or the client destroyed
};
const char* failure_name(redis_failure f);

struct redis_result {
    redis_failure failure = redis_failure::none;
    std::string message;  // what went wrong, for logs; empty when ok()
    redis_reply reply;    // the reply when ok() (or the error reply: server_error)
    bool ok() const { return failure == redis_failure::none; }
};

// Totals since construction, for metrics. commands = ok + errors + timeouts.
struct redis_counters {
    std::uint64_t commands = 0;
    std::uint64_t errors = 0;      // failed other than by timeout (unavailable included)
    std::uint64_t timeouts = 0;
    std::uint64_t reconnects = 0;  // connections re-established after a failure
};

// up: a connection became ready after none was; down: the last one failed.
// `why` says what happened ("connection refused", "AUTH failed: WRONGPASS ...").
// Called on the client strand under a lock that shutdown() takes: it must not
// call shutdown() or destroy the client (log, set a gauge, post elsewhere).
using state_callback = std::function<void(bool up, std::string why)>;

class redis_client {
public:
    // Starts connecting at once. Thread-safe; every member may be called from any thread.
    redis_client(net::asio::any_io_executor ex, redis_settings settings, state_callback on_state = {});
    ~redis_client();
    redis_client(const redis_client&) = delete;
    redis_client& operator=(const redis_client&) = delete;

    // Sends one command ({"SET", key, value, "PX", "60000"}) on a pooled connection
    // and completes with its reply, a timeout after command_timeout, or a failure.
    // Never throws (but bad_alloc); resumes the caller on its own executor.
    // Connections are shared by concurrent callers: no connection-state commands
    // here (MULTI/EXEC, WATCH, SELECT, SUBSCRIBE, CLIENT REPLY...); use EVAL for atomicity.
    net::awaitable<redis_result> command(std::vector<std::string> args);

    // A command that blocks the server side, such as XREAD BLOCK ms STREAMS key id,
    // on a dedicated connection. `timeout` bounds the whole call: make it longer
    // than the BLOCK time. Fails with `unavailable` at once while the pool is down.
    net::awaitable<redis_result> blocking_command(std::vector<std::string> args,
                                                  std::chrono::milliseconds timeout);

    // True while at least one pooled connection is ready.
    bool available() const;
    redis_counters counters() const;
    const redis_settings& settings() const;

    // Idempotent. Returns at once; no on_state call happens after it returns.
    void shutdown();

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace swapgate::redis
