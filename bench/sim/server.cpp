#include "bench/sim/server.hpp"

#include "bench/sim/log.hpp"
#include "bench/sim/wire.hpp"

namespace swapgate::sim {
namespace {

namespace asio = boost::asio;

// Answers a request that could not be read, then the connection closes.
net::awaitable<void> refuse(client_io& io, int status, std::string_view message) {
    std::string bytes = json_response(status, openai_error(message, "invalid_request_error"), false);
    co_await io.write(bytes);
    co_await io.close();
}

net::awaitable<void> session(std::unique_ptr<client_io> io, app& a) {
    auto& stats = a.stats();
    ++stats.open_connections;
    struct closing {
        sim_stats& s;
        ~closing() { --s.open_connections; }
    } mark{stats};
    if (!co_await io->start()) co_return;
    for (;;) {
        http_request req;
        switch (co_await io->read(req)) {
        case read_status::ok: break;
        case read_status::header_too_large:
            co_return co_await refuse(*io, 431, "request header larger than 16 KiB");
        case read_status::body_too_large:
            co_return co_await refuse(*io, 413, "request body larger than 32 MiB");
        case read_status::bad_request:
            co_return co_await refuse(*io, 400, "malformed HTTP request");
        case read_status::closed:
        case read_status::timeout:
            co_return co_await io->close();
        }
        if (!co_await a.handle(req, *io) || !io->reusable()) {
            if (io->reusable()) co_await io->close();
            co_return;
        }
    }
}

}  // namespace

net::awaitable<void> accept_loop(net::tcp::acceptor& acceptor, app& a, asio::ssl::context* tls) {
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ex), net::use_tuple);
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        if (ec) {
            // Out of descriptors and the like: back off briefly instead of spinning.
            log_line("accept: " + ec.message());
            net::steady_timer t(ex, std::chrono::milliseconds(50));
            co_await t.async_wait();
            continue;
        }
        ++a.stats().connections_accepted;
        net::error_code ignored;
        socket.set_option(net::tcp::no_delay(true), ignored);
        auto strand = socket.get_executor();
        auto io = tls ? make_tls_io(std::move(socket), *tls) : make_plain_io(std::move(socket));
        asio::co_spawn(strand, session(std::move(io), a), [](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                log_line(std::string("session ended by exception: ") + x.what());
            }
        });
    }
}

}  // namespace swapgate::sim
