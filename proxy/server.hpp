// The HTTP/1.1 server: accepts connections, runs one session per connection on
// its own strand (keep-alive, request limits, deadlines), and shuts down
// gracefully: stop accepting, close idle connections, let requests finish.
#pragma once
#include "proxy/handler.hpp"

#include <list>
#include <memory>
#include <mutex>

namespace swapgate::proxy {

class server {
public:
    server(net::asio::io_context& ioc, proxy_state& st);
    ~server();

    // Binds and listens; returns the bound port (useful with port 0). Throws
    // boost::system::system_error when the address cannot be bound.
    std::uint16_t listen(const std::string& host, std::uint16_t port);
    void start();
    // Stops accepting and closes idle connections; busy ones close after their response.
    void begin_shutdown();
    // Cancels every remaining session (streams end, upstream calls are closed).
    void force_close();
    size_t session_count();

private:
    struct session_slot;
    net::asio::io_context& ioc_;
    proxy_state& st_;
    net::asio::strand<net::asio::io_context::executor_type> accept_strand_;
    net::tcp_acceptor acceptor_;
    std::mutex mu_;
    std::list<std::shared_ptr<session_slot>> sessions_;

    net::awaitable<void> accept_loop();
    net::awaitable<void> session(net::tcp::socket sock, std::shared_ptr<session_slot> slot);
    void forget(const std::shared_ptr<session_slot>& slot);
};

}  // namespace swapgate::proxy
