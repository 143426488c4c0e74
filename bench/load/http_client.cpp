#include "bench/load/http_client.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <array>

namespace swapgate::bench {
namespace asio = sn::asio;
namespace http = sn::http;
namespace beast = sn::beast;
using namespace boost::asio::experimental::awaitable_operators;

struct http_connection::impl {
    explicit impl(const asio::any_io_executor& ex) : socket(ex) {}
    sn::tcp_socket socket;
    beast::flat_buffer buffer;
    std::array<char, 16384> body{};
};

http_connection::http_connection(const asio::any_io_executor& ex) : impl_(std::make_unique<impl>(ex)) {}
http_connection::~http_connection() = default;

bool http_connection::is_open() const { return impl_->socket.is_open(); }

void http_connection::close() {
    sn::error_code ignored;
    impl_->socket.shutdown(sn::tcp::socket::shutdown_both, ignored);
    impl_->socket.close(ignored);
    impl_->buffer.clear();
}

sn::awaitable<sn::error_code> http_connection::connect(const sn::tcp::resolver::results_type& endpoints) {
    close();
    auto [ec, ep] = co_await asio::async_connect(impl_->socket, endpoints);
    if (!ec) impl_->socket.set_option(sn::tcp::no_delay(true), ec);
    if (ec) close();
    co_return ec;
}

sn::awaitable<http_connection::outcome> http_connection::exchange(std::string_view request, response_recorder& rec) {
    impl& s = *impl_;
    outcome out;
    auto [wec, wn] = co_await asio::async_write(s.socket, asio::buffer(request.data(), request.size()), sn::use_tuple);
    if (wec) {
        close();
        out.ec = wec;
        co_return out;
    }

    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    auto [hec, hn] = co_await http::async_read_header(s.socket, s.buffer, parser, sn::use_tuple);
    out.got_response_bytes = parser.got_some() || hn > 0;
    if (hec) {
        close();
        out.ec = hec;
        co_return out;
    }
    const auto& head = parser.get();
    rec.on_headers(static_cast<int>(head.result_int()), head[http::field::content_type], head["X-Swapgate-Cache"]);

    while (!parser.is_done()) {
        parser.get().body().data = s.body.data();
        parser.get().body().size = s.body.size();
        // read_some, not read: each socket read is handed to the recorder as it arrives, so
        // time to first token is not delayed by buffering.
        auto [ec, n] = co_await http::async_read_some(s.socket, s.buffer, parser, sn::use_tuple);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
            close();
            out.ec = ec;
            co_return out;
        }
        const std::size_t got = s.body.size() - parser.get().body().size;
        if (got > 0 && !rec.on_body(std::string_view(s.body.data(), got), bench_clock::now())) {
            close();
            out.ec = http::error::body_limit;
            co_return out;
        }
    }
    if (!parser.keep_alive()) close();
    co_return out;
}

namespace {

struct attempt_result {
    request_result::failure failure = request_result::failure::none;
    bool retry = false;
};

sn::awaitable<attempt_result> attempt(http_connection& conn, const sn::tcp::resolver::results_type& endpoints,
                                      std::string_view request, response_recorder& rec) {
    const bool reused = conn.is_open();
    if (!reused) {
        if (auto ec = co_await conn.connect(endpoints)) co_return attempt_result{request_result::failure::connect_error};
    }
    auto out = co_await conn.exchange(request, rec);
    if (!out.ec) co_return attempt_result{};
    co_return attempt_result{request_result::failure::read_error, reused && !out.got_response_bytes};
}

}  // namespace

sn::awaitable<request_result> perform_request(http_connection& conn, const sn::tcp::resolver::results_type& endpoints,
                                              std::string_view request, bench_clock::duration timeout) {
    const auto start = bench_clock::now();
    sn::steady_timer deadline(co_await asio::this_coro::executor);
    deadline.expires_at(start + timeout);
    for (int tries = 0;; ++tries) {
        response_recorder rec(start);
        auto r = co_await (attempt(conn, endpoints, request, rec) || deadline.async_wait());
        if (r.index() == 1) {
            conn.close();  // the exchange was cancelled mid-way: the stream is unusable
            co_return rec.fail(request_result::failure::timeout, bench_clock::now());
        }
        const auto& a = std::get<0>(r);
        if (a.failure == request_result::failure::none) co_return rec.finish(bench_clock::now());
        if (!a.retry || tries > 0) co_return rec.fail(a.failure, bench_clock::now());
    }
}

}  // namespace swapgate::bench
