// Template part of client_conn.hpp.
#include <sys/socket.h>
#include <cerrno>

namespace swapgate::proxy {

template <class OnGone>
net::awaitable<void> watch_client(net::tcp_stream& stream, bool& gone, OnGone on_gone) {
    // Cancelled when the request is over. A wait that completed just before the
    // cancellation arrived must not start another one: check after every resumption.
    co_await net::asio::this_coro::throw_if_cancelled(false);
    auto cancelled = [](const net::asio::cancellation_state& cs) {
        return cs.cancelled() != net::asio::cancellation_type::none;
    };
    auto& sock = stream.socket();
    net::steady_timer park(co_await net::asio::this_coro::executor);
    // Most proxied requests finish within milliseconds; arming the socket watch costs
    // an epoll_ctl, so start it only for requests still running after a moment.
    park.expires_after(std::chrono::milliseconds(20));
    auto [tec] = co_await park.async_wait();
    if (tec || cancelled(co_await net::asio::this_coro::cancellation_state)) co_return;
    park.expires_at(std::chrono::steady_clock::time_point::max());
    for (;;) {
        auto [ec] = co_await sock.async_wait(net::tcp::socket::wait_read, net::use_tuple);
        if (cancelled(co_await net::asio::this_coro::cancellation_state)) co_return;
        if (ec == net::asio::error::operation_aborted) co_return;
        if (!ec) {
            char c;
            ssize_t n = ::recv(sock.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
            if (n > 0) {  // a pipelined request: not a disconnect; stop watching
                co_await park.async_wait();
                co_return;
            }
            // n == 0: end of stream, the client closed its side.
        }
        gone = true;
        on_gone();
        co_await park.async_wait();
        co_return;
    }
}

}  // namespace swapgate::proxy
