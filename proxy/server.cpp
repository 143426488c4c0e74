#include "proxy/server.hpp"

#include "proxy/request_log.hpp"

#include <boost/beast/http.hpp>

namespace swapgate::proxy {

namespace asio = net::asio;
namespace beast = net::beast;
namespace http = net::http;
using net::error_code;
using net::tcp;

struct server::session_slot {
    asio::any_io_executor strand;
    asio::cancellation_signal cancel;
    bool busy = false;  // touched only on `strand`
    std::list<std::shared_ptr<session_slot>>::iterator self;
};

server::server(asio::io_context& ioc, proxy_state& st)
    : ioc_(ioc), st_(st), accept_strand_(asio::make_strand(ioc)), acceptor_(accept_strand_) {}

server::~server() = default;

std::uint16_t server::listen(const std::string& host, std::uint16_t port) {
    tcp::endpoint ep(asio::ip::make_address(host), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    return acceptor_.local_endpoint().port();
}

void server::start() {
    asio::co_spawn(accept_strand_, accept_loop(), asio::detached);
}

net::awaitable<void> server::accept_loop() {
    for (;;) {
        auto strand = asio::make_strand(ioc_);
        auto [ec, sock] = co_await acceptor_.async_accept(strand);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
            // Out of file descriptors and the like: back off instead of spinning.
            log_event("warn", "accept_failed", ec.message());
            net::steady_timer t(accept_strand_, std::chrono::milliseconds(50));
            co_await t.async_wait();
            continue;
        }
        auto slot = std::make_shared<session_slot>();
        slot->strand = strand;
        {
            std::lock_guard lock(mu_);
            sessions_.push_front(slot);
            slot->self = sessions_.begin();
        }
        asio::co_spawn(strand, session(std::move(sock), slot),
                       asio::bind_cancellation_slot(slot->cancel.slot(), asio::detached));
    }
}

void server::forget(const std::shared_ptr<session_slot>& slot) {
    std::lock_guard lock(mu_);
    sessions_.erase(slot->self);
}

size_t server::session_count() {
    std::lock_guard lock(mu_);
    return sessions_.size();
}

void server::begin_shutdown() {
    st_.draining = true;
    asio::post(accept_strand_, [this] {
        error_code ec;
        acceptor_.close(ec);
    });
    std::lock_guard lock(mu_);
    for (auto& s : sessions_)
        asio::post(s->strand, [s] {
            if (!s->busy) s->cancel.emit(asio::cancellation_type::terminal);
        });
}

void server::force_close() {
    std::lock_guard lock(mu_);
    for (auto& s : sessions_)
        asio::post(s->strand, [s] { s->cancel.emit(asio::cancellation_type::terminal); });
}

namespace {

// After an error response on a connection we are closing, read and discard what the
// client is still sending for a moment, so the response is not lost to a TCP reset.
net::awaitable<void> lingering_close(net::tcp_stream& stream) {
    error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.expires_after(std::chrono::seconds(2));
    std::string sink(16384, '\0');
    size_t total = 0;
    while (total < (8u << 20)) {
        auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink));
        if (rec) break;
        total += n;
    }
}

}  // namespace

net::awaitable<void> server::session(tcp::socket sock, std::shared_ptr<session_slot> slot) {
    co_await asio::this_coro::throw_if_cancelled(false);
    const auto& lim = st_.cfg->limits;
    st_.stats.open_connections.add(1);
    try {
        net::tcp_stream stream(std::move(sock));
        error_code ignored;
        stream.socket().set_option(tcp::no_delay(true), ignored);
        // Non-blocking, so that client_conn can try writes synchronously first.
        stream.socket().non_blocking(true, ignored);
        beast::flat_buffer buf;
        client_conn conn(stream);
        conn.read_buffer = &buf;
        conn.draining = &st_.draining;
        conn.write_timeout = lim.write_timeout;
        bool linger = false;

        if (st_.stats.open_connections.value() > lim.max_connections) {
            conn.keep_alive = false;
            co_await conn.send_error(overloaded());
            linger = true;  // unread request bytes would otherwise reset the connection
        } else {
            for (bool first = true;; first = false) {
                if (st_.draining) break;
                if (buf.size() == 0) {
                    // Waiting for the next request: the keep-alive idle timeout applies.
                    stream.expires_after(first ? lim.request_read_timeout : lim.idle_timeout);
                    auto [ec, n] = co_await stream.async_read_some(buf.prepare(4096));
                    if (ec) break;
                    buf.commit(n);
                }
                // From the first byte, the whole request must arrive within request_read_timeout.
                stream.expires_after(lim.request_read_timeout);
                http::request_parser<http::string_body> p;
                p.header_limit(static_cast<std::uint32_t>(lim.max_header_bytes));
                p.body_limit(lim.max_body_bytes);
                conn.keep_alive = false;
                conn.request_id.clear();
                auto [hec, hn] = co_await http::async_read_header(stream, buf, p, net::use_tuple);
                if (hec) {
                    if (hec == http::error::end_of_stream || hec == asio::error::eof ||
                        hec == asio::error::connection_reset || hec == asio::error::operation_aborted)
                        break;
                    // Beast checks Content-Length against the body limit as soon as the head is in.
                    api_error e = hec == http::error::header_limit ? headers_too_large(lim.max_header_bytes)
                                  : hec == http::error::body_limit ? too_large("The request body", lim.max_body_bytes)
                                  : hec == beast::error::timeout
                                      ? request_timeout()
                                      : invalid_request("Malformed HTTP request: " + hec.message(), "", "bad_request");
                    if (hec != beast::error::timeout) linger = true;
                    co_await conn.send_error(e);
                    break;
                }
                auto& h = p.get();
                conn.http10 = h.version() == 10;
                conn.head_only = h.method() == http::verb::head;
                conn.request_id = accept_request_id(h["X-Request-Id"]);
                if (p.content_length() && *p.content_length() > lim.max_body_bytes) {
                    co_await conn.send_error(too_large("The request body", lim.max_body_bytes));
                    linger = true;
                    break;
                }
                if (!p.is_done()) {
                    if (beast::iequals(h[http::field::expect], "100-continue")) {
                        auto [wec, wn] = co_await asio::async_write(
                            stream, asio::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25), net::use_tuple);
                        if (wec) break;
                    }
                    auto [bec, bn] = co_await http::async_read(stream, buf, p, net::use_tuple);
                    if (bec) {
                        if (bec == http::error::body_limit) {
                            co_await conn.send_error(too_large("The request body", lim.max_body_bytes));
                            linger = true;
                        } else if (bec == beast::error::timeout) {
                            co_await conn.send_error(request_timeout());
                        }
                        break;
                    }
                }
                stream.expires_never();

                incoming_request req;
                req.method = std::string(h.method_string());
                req.target = std::string(h.target());
                req.path = req.target.substr(0, req.target.find('?'));
                req.authorization = std::string(h[http::field::authorization]);
                req.cache_control = std::string(h[http::field::cache_control]);
                req.x_swapgate_cache = std::string(h["X-Swapgate-Cache"]);
                req.x_task_type = std::string(h["X-Task-Type"]);
                req.request_id = conn.request_id;
                req.http10 = conn.http10;
                req.body = std::move(h.body());
                conn.keep_alive = p.keep_alive() && !st_.draining;

                slot->busy = true;
                co_await handle_request(st_, conn, std::move(req));
                slot->busy = false;
                if (!conn.keep_alive || st_.draining) break;
                if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
                    break;
            }
        }
        if (linger) co_await lingering_close(stream);
        error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream.socket().close(ec);
    } catch (const std::exception& e) {
        // Nothing on the request path throws by design; this keeps a bug from
        // taking the process down with it.
        log_event("error", "session_exception", e.what());
    }
    st_.stats.open_connections.add(-1);
    forget(slot);
}

}  // namespace swapgate::proxy
