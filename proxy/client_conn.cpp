#include "proxy/client_conn.hpp"

#include "proxy/net/http_status.hpp"

#include <boost/beast/core/buffers_suffix.hpp>

#include <cstdio>

namespace swapgate::proxy {

namespace asio = net::asio;
namespace beast = net::beast;
using net::error_code;

void client_conn::build_head(int status, std::string_view content_type, const header_list& extra, long long length) {
    head_.clear();
    head_.append(http10 ? "HTTP/1.0 " : "HTTP/1.1 ").append(std::to_string(status)).append(" ");
    head_.append(net::reason_phrase(status)).append("\r\nServer: swapgate\r\n");
    if (!content_type.empty()) head_.append("Content-Type: ").append(content_type).append("\r\n");
    if (length >= 0) head_.append("Content-Length: ").append(std::to_string(length)).append("\r\n");
    else if (!http10) head_.append("Transfer-Encoding: chunked\r\n");
    if (!request_id.empty()) head_.append("X-Request-Id: ").append(request_id).append("\r\n");
    for (const auto& [k, v] : extra) head_.append(k).append(": ").append(v).append("\r\n");
    if (draining && draining->load()) keep_alive = false;  // shutting down: tell the client
    if (!keep_alive) head_.append("Connection: close\r\n");
    else if (http10) head_.append("Connection: keep-alive\r\n");
    head_.append("\r\n");
    status_sent = status;
}

asio::awaitable<error_code> client_conn::write(asio::const_buffer a, asio::const_buffer b, asio::const_buffer c) {
    std::array<asio::const_buffer, 3> bufs{a, b, c};
    // Fast path: the socket is non-blocking and usually has room, so most writes
    // (a response, one SSE event) complete here without a timer or a suspension.
    error_code ec;
    size_t sent = stream_->socket().send(bufs, 0, ec);
    size_t total = a.size() + b.size() + c.size();
    if (!ec && sent == total) co_return error_code{};
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return ec;
    // The client is not keeping up: finish asynchronously, bounded by write_timeout.
    beast::buffers_suffix<std::array<asio::const_buffer, 3>> rest(bufs);
    rest.consume(ec ? 0 : sent);
    stream_->expires_after(write_timeout);
    auto [wec, written] = co_await asio::async_write(*stream_, rest, net::use_tuple);
    stream_->expires_never();
    co_return wec;
}

asio::awaitable<error_code> client_conn::send(int status, std::string_view content_type, std::string_view body,
                                              const header_list& extra) {
    if (sink_) {
        status_sent = status;
        co_return sink_->whole(status, content_type, body, extra) ? error_code{} : asio::error::connection_reset;
    }
    build_head(status, content_type, extra, static_cast<long long>(body.size()));
    if (head_only) co_return co_await write(asio::buffer(head_));
    co_return co_await write(asio::buffer(head_), asio::buffer(body.data(), body.size()));
}

asio::awaitable<error_code> client_conn::send_error(const api_error& e) {
    std::string body = error_body(e);
    header_list extra;
    if (e.status == 503 || e.status == 429) extra.emplace_back("Retry-After", "1");
    if (e.status == 405) extra.emplace_back("Allow", e.message.find("/models") != std::string::npos ? "GET, HEAD" : "POST");
    co_return co_await send(e.status, "application/json", body, extra);
}

asio::awaitable<error_code> client_conn::start_stream(int status, std::string_view content_type,
                                                      const header_list& extra) {
    if (sink_) {
        status_sent = status;
        co_return sink_->head(status, content_type, extra) ? error_code{} : asio::error::connection_reset;
    }
    if (http10) keep_alive = false;  // the end of the body is the end of the connection
    build_head(status, content_type, extra, -1);
    co_return co_await write(asio::buffer(head_));
}

asio::awaitable<error_code> client_conn::send_chunk(std::string_view data, bool last) {
    if (sink_) co_return sink_->data(data, last) ? error_code{} : asio::error::connection_reset;
    if (data.empty()) {
        if (last) co_return co_await end_stream();
        co_return error_code{};
    }
    if (http10) co_return co_await write(asio::buffer(data.data(), data.size()));
    char size_line[24];
    int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
    static constexpr char tail[] = "\r\n0\r\n\r\n";  // chunk end, then the last-chunk marker
    co_return co_await write(asio::buffer(size_line, static_cast<size_t>(len)), asio::buffer(data.data(), data.size()),
                             asio::buffer(tail, last ? 7 : 2));
}

asio::awaitable<error_code> client_conn::end_stream() {
    if (sink_) co_return sink_->end() ? error_code{} : asio::error::connection_reset;
    if (http10) co_return error_code{};
    co_return co_await write(asio::buffer("0\r\n\r\n", 5));
}

}  // namespace swapgate::proxy
