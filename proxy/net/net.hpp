// Short names for the Asio/Beast types shared by the proxy and the bench tools.
#pragma once
#include <boost/asio.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace swapgate::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;
using any_io_executor = boost::asio::any_io_executor;

// Every async call on the request path completes as a tuple (ec, ...): no throws.
using token = asio::as_tuple_t<asio::use_awaitable_t<>>;
inline constexpr token use_tuple{};
using tcp_socket = token::as_default_on_t<tcp::socket>;
using tcp_acceptor = token::as_default_on_t<tcp::acceptor>;
using steady_timer = token::as_default_on_t<asio::steady_timer>;
using tcp_stream = token::as_default_on_t<beast::tcp_stream>;
template <class T> using awaitable = asio::awaitable<T>;
}  // namespace swapgate::net
