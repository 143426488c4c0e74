// The only swapgate-sim file that includes Beast: request parsing and stream types.
#include "bench/sim/client_io.hpp"

#include <cerrno>
#include <sys/socket.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

namespace swapgate::sim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using net::use_tuple;

read_status classify(const net::error_code& ec) {
    if (ec == http::error::header_limit) return read_status::header_too_large;
    if (ec == http::error::body_limit) return read_status::body_too_large;
    if (ec == beast::error::timeout) return read_status::timeout;
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) return read_status::closed;
    if (ec.category() == http::make_error_code(http::error::bad_target).category()) return read_status::bad_request;
    return read_status::closed;
}

// Reads one request from `s` (tcp_stream or ssl_stream over it).
template <class Stream>
net::awaitable<read_status> read_request(Stream& s, beast::tcp_stream& lowest, beast::flat_buffer& buf,
                                         http_request& out) {
    http::request_parser<http::string_body> p;
    p.header_limit(max_header_bytes);
    p.body_limit(max_body_bytes);
    lowest.expires_after(idle_timeout);
    auto [ec, n] = co_await http::async_read_header(s, buf, p, use_tuple);
    if (ec) co_return classify(ec);
    lowest.expires_after(request_timeout);
    auto& head = p.get();
    if (beast::iequals(head[http::field::expect], "100-continue") && !p.is_done()) {
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [wec, wn] = co_await asio::async_write(s, asio::buffer(cont), use_tuple);
        if (wec) co_return read_status::closed;
    }
    if (!p.is_done()) {
        auto [bec, bn] = co_await http::async_read(s, buf, p, use_tuple);
        if (bec) co_return classify(bec);
    }
    lowest.expires_never();
    auto msg = p.release();
    out.method = std::string(msg.method_string());
    out.target = std::string(msg.target());
    out.body = std::move(msg.body());
    out.keep_alive = msg.keep_alive();
    co_return read_status::ok;
}

// Waits on the raw socket for readability, then peeks: 0 bytes = FIN, an error
// = reset. Returns true when the peer is gone, false when data is pending.
net::awaitable<bool> peer_closed(net::tcp::socket& sock) {
    for (;;) {
        auto [ec] = co_await sock.async_wait(net::tcp::socket::wait_read, use_tuple);
        if (ec == asio::error::operation_aborted) co_return false;
        if (ec) co_return true;
        char probe;
        ssize_t n = ::recv(sock.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) co_return true;
        if (n > 0) co_return false;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) co_return true;
    }
}

// Suspends until cancelled.
net::awaitable<void> forever(const asio::any_io_executor& ex) {
    net::steady_timer t(ex, std::chrono::steady_clock::time_point::max());
    co_await t.async_wait();
}

class plain_io final : public client_io {
public:
    explicit plain_io(net::tcp::socket s) : stream_(std::move(s)) {}

    net::awaitable<bool> start() override { co_return true; }

    net::awaitable<read_status> read(http_request& req) override {
        return read_request(stream_, stream_, buf_, req);
    }

    net::awaitable<net::error_code> write(std::string_view bytes) override {
        stream_.expires_after(write_timeout);
        auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()), use_tuple);
        co_return ec;
    }

    net::awaitable<void> gone() override {
        auto ex = stream_.get_executor();
        if (!aborted_ && co_await peer_closed(stream_.socket()) && !aborted_) co_return;
        // Aborted by us, cancelled, or a pipelined request is waiting: not a departure.
        co_await forever(ex);
    }

    net::awaitable<void> close() override {
        net::error_code ec;
        stream_.socket().shutdown(net::tcp::socket::shutdown_send, ec);
        stream_.socket().close(ec);
        co_return;
    }

    void abort() override {
        aborted_ = true;
        net::error_code ec;
        stream_.socket().close(ec);
    }

    bool reusable() const override { return !aborted_ && stream_.socket().is_open(); }

private:
    beast::tcp_stream stream_;
    beast::flat_buffer buf_;
    bool aborted_ = false;
};

class tls_io final : public client_io {
public:
    tls_io(net::tcp::socket s, ssl::context& ctx) : stream_(beast::tcp_stream(std::move(s)), ctx) {}

    net::awaitable<bool> start() override {
        lowest().expires_after(std::chrono::seconds(10));
        auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, use_tuple);
        lowest().expires_never();
        co_return !ec;
    }

    net::awaitable<read_status> read(http_request& req) override {
        return read_request(stream_, lowest(), buf_, req);
    }

    net::awaitable<net::error_code> write(std::string_view bytes) override {
        lowest().expires_after(write_timeout);
        auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()), use_tuple);
        co_return ec;
    }

    net::awaitable<void> gone() override {
        auto ex = stream_.get_executor();
        if (aborted_) co_return co_await forever(ex);
        if (co_await peer_closed(lowest().socket())) {
            if (!aborted_) co_return;
            co_return co_await forever(ex);
        }
        // Bytes are pending: most likely the client's next request on a kept-alive
        // connection (a proxy reuses it the moment the response is complete), or a
        // close_notify. Reading them through TLS here would be cancelled when this
        // request ends, leaving a partial record and a connection that cannot be
        // reused, so do as the plain-socket case does: not a departure, stop
        // watching. A client that then closes is noticed by the next write failing.
        co_await forever(ex);
    }

    net::awaitable<void> close() override {
        lowest().expires_after(std::chrono::seconds(2));
        co_await stream_.async_shutdown(use_tuple);
        net::error_code ec;
        lowest().socket().close(ec);
    }

    void abort() override {
        aborted_ = true;
        net::error_code ec;
        lowest().socket().close(ec);
    }

    bool reusable() const override { return !aborted_; }

private:
    beast::ssl_stream<beast::tcp_stream> stream_;
    beast::flat_buffer buf_;
    bool aborted_ = false;
    beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
    const beast::tcp_stream& lowest() const { return beast::get_lowest_layer(stream_); }
};

}  // namespace

std::unique_ptr<client_io> make_plain_io(net::tcp::socket socket) {
    return std::make_unique<plain_io>(std::move(socket));
}

std::unique_ptr<client_io> make_tls_io(net::tcp::socket socket, ssl::context& ctx) {
    return std::make_unique<tls_io>(std::move(socket), ctx);
}

}  // namespace swapgate::sim
