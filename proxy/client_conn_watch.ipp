// Template part of client_conn.hpp.
#include <sys/socket.h>
#include <cerrno>

namespace swapgate::proxy {

template <class OnGone>
net::awaitable<void> watch_client(net::tcp_stream& stream, bool& gone, OnGone on_gone) {
    auto& sock = stream.socket();
    net::steady_timer park(co_await net::asio::this_coro::executor);
    park.expires_at(std::chrono::steady_clock::time_point::max());
    for (;;) {
        auto [ec] = co_await sock.async_wait(net::tcp::socket::wait_read, net::use_tuple);
        if (ec == net::asio::error::operation_aborted) co_return;
        if (!ec) {
            char c;
            ssize_t n = ::recv(sock.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
            if (n > 0) {  // a pipelined request: not a disconnect; stop watching
                co_await park.async_wait();
                co_return;
            }
        }
        gone = true;
        on_gone();
        co_await park.async_wait();
        co_return;
    }
}

}  // namespace swapgate::proxy
