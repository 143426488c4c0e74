// One accepted client connection, plain TCP or TLS, behind a small interface so
// the request handlers neither know nor care which (and include no Beast).
// Every member runs on the connection's strand; no member throws.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/net/net.hpp"

namespace boost::asio::ssl {
class context;
}

namespace swapgate::sim {

// One request as read off the wire.
struct http_request {
    std::string method;  // "GET", "POST", ...
    std::string target;  // path and query
    std::string body;
    bool keep_alive = true;
};

enum class read_status { ok, closed, timeout, header_too_large, body_too_large, bad_request };

inline constexpr size_t max_header_bytes = 16 * 1024;
inline constexpr size_t max_body_bytes = 32 * 1024 * 1024;
inline constexpr std::chrono::seconds idle_timeout{300};    // keep-alive gap between requests
inline constexpr std::chrono::seconds request_timeout{60};  // a started request must arrive by then
inline constexpr std::chrono::seconds write_timeout{60};    // a client that reads nothing for this long is dropped

class client_io {
public:
    virtual ~client_io() = default;
    // TLS handshake (no-op for plain TCP); false = drop the connection.
    virtual net::awaitable<bool> start() = 0;
    // Reads the next request, answering "Expect: 100-continue" on the way.
    virtual net::awaitable<read_status> read(http_request& req) = 0;
    // Writes all of `bytes`; an error means the client is gone.
    virtual net::awaitable<net::error_code> write(std::string_view bytes) = 0;
    // Completes when the client closes or resets the connection. While the
    // client is silent (as it is while a response streams) it only completes
    // when cancelled. Costs no read: pipelined requests stay buffered.
    virtual net::awaitable<void> gone() = 0;
    // Orderly close after the last response (TLS close_notify, FIN).
    virtual net::awaitable<void> close() = 0;
    // Closes the socket now, mid-response (fault injection, vanished client).
    virtual void abort() = 0;
    // False once the connection cannot carry another request.
    virtual bool reusable() const = 0;
};

std::unique_ptr<client_io> make_plain_io(net::tcp::socket socket);
std::unique_ptr<client_io> make_tls_io(net::tcp::socket socket, boost::asio::ssl::context& ctx);

}  // namespace swapgate::sim
