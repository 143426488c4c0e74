// The upstream client: a keep-alive connection pool per backend (HTTP or HTTPS
// with verification and SNI) and one request/response exchange at a time on a
// pooled connection. An exchange runs on the caller's strand; its deadlines and
// the client leaving are watched by an exchange_watch, which aborts the call.
#pragma once
#include "config/config.hpp"
#include "config/url.hpp"
#include "proxy/exchange_watch.hpp"
#include "proxy/net/net.hpp"

#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace swapgate::proxy {

class metrics;
struct upstream_conn;


// One backend's pool of idle connections. Thread-safe; shared by all sessions.
class backend_pool {
public:
    // Throws std::runtime_error when the TLS settings cannot be loaded (startup only).
    backend_pool(net::asio::any_io_executor ex, config::backend cfg, metrics& m);
    ~backend_pool();

    const config::backend& cfg() const { return cfg_; }
    const config::url& url() const { return url_; }
    net::asio::any_io_executor executor() const { return ex_; }
    net::asio::ssl::context* tls() { return tls_.get(); }
    metrics& stats() { return metrics_; }

    // A pooled connection that still looks alive, or null.
    std::unique_ptr<upstream_conn> take_idle();
    // Returns a connection whose last response completed cleanly.
    void give_back(std::unique_ptr<upstream_conn> c);
    size_t idle_count();

private:
    net::asio::any_io_executor ex_;
    config::backend cfg_;
    config::url url_;
    std::unique_ptr<net::asio::ssl::context> tls_;
    metrics& metrics_;
    std::mutex mu_;
    std::vector<std::unique_ptr<upstream_conn>> idle_;
};

struct upstream_head {
    int status = 0;
    std::string content_type;
    bool event_stream = false;
    std::vector<std::pair<std::string, std::string>> pass_headers;  // Retry-After, x-ratelimit-*, ...
};

// Why an exchange failed, for the status and message the client gets.
enum class failure { none, resolve, connect, tls, write, closed, protocol, too_large, timeout, aborted };

// One request/response exchange. Not thread-safe: used from one strand.
class upstream_call {
public:
    upstream_call(backend_pool& pool, exchange_watch& watch);
    ~upstream_call();

    // Sends `request` (complete HTTP/1.1 bytes) on a pooled or new connection and
    // reads the response head. A stale pooled connection is retried once on a fresh one.
    net::awaitable<net::error_code> start(std::string request);
    const upstream_head& head() const { return head_; }
    // Appends the next body bytes to `out`; `done()` turns true after the last.
    net::awaitable<net::error_code> read_some(std::string& out);
    // Reads the rest of the body into `out`, bounded by the backend's max_response_size.
    net::awaitable<net::error_code> read_all(std::string& out);
    bool done() const { return done_; }
    // Closes the connection at once: pending operations fail, it is never reused.
    void abort();
    // Returns the connection to the pool when the response completed cleanly.
    void release();
    failure why() const { return why_; }
    // A human-readable reason for the last failure.
    std::string reason() const;
    bool reused() const { return reused_; }
    // Largest single SSE event a relay should buffer (the backend's max_response_size).
    size_t max_event_bytes() const { return pool_.cfg().max_response_bytes; }

private:
    backend_pool& pool_;
    exchange_watch& dl_;
    std::unique_ptr<upstream_conn> conn_;
    net::tcp::resolver* resolving_ = nullptr;  // set while a DNS lookup runs, so abort() can cancel it
    struct parser_box;
    std::unique_ptr<parser_box> parser_;
    upstream_head head_;
    failure why_ = failure::none;
    net::error_code last_ec_;
    bool done_ = false;
    bool reused_ = false;
    bool aborted_ = false;

    net::awaitable<net::error_code> connect();
    net::awaitable<net::error_code> exchange_head(const std::string& request);
    net::error_code fail(failure f, net::error_code ec);
};

// The request bytes for `path` (appended to the backend's base path).
std::string build_upstream_request(const backend_pool& pool, const char* method, const std::string& path,
                                   const std::string& body, const std::string& request_id);

}  // namespace swapgate::proxy
