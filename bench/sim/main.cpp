// swapgate-sim: a simulated OpenAI-compatible local model server (a stand-in for
// llama-server, Ollama or vLLM on machines without a GPU). See bench/README.md.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include <boost/asio/ssl.hpp>

#include "bench/sim/app.hpp"
#include "bench/sim/log.hpp"
#include "bench/sim/model_spec.hpp"
#include "bench/sim/server.hpp"

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using namespace swapgate;

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    for (const auto& a : args)
        if (a == "--help" || a == "-h") {
            std::cout << sim::usage();
            return 0;
        }
    auto parsed = sim::parse_args(args);
    if (!parsed) {
        std::cerr << "swapgate-sim: " << parsed.error << "\n" << sim::usage();
        return 2;
    }
    const sim::sim_options& opts = parsed.value;
    sim::log_quiet() = opts.quiet;
    std::signal(SIGPIPE, SIG_IGN);

    std::unique_ptr<ssl::context> tls;
    if (!opts.tls_cert.empty()) {
        tls = std::make_unique<ssl::context>(ssl::context::tls_server);
        tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        net::error_code ec;
        tls->use_certificate_chain_file(opts.tls_cert, ec);
        if (!ec) tls->use_private_key_file(opts.tls_key, ssl::context::pem, ec);
        if (ec) {
            std::cerr << "swapgate-sim: TLS certificate/key: " << ec.message() << "\n";
            return 2;
        }
    }

    asio::io_context ioc(opts.threads);
    sim::app app(asio::make_strand(ioc), opts);

    net::tcp::acceptor acceptor(ioc);
    net::error_code ec;
    auto address = asio::ip::make_address(opts.host, ec);
    if (ec) {
        std::cerr << "swapgate-sim: bad listen address '" << opts.host << "'\n";
        return 2;
    }
    net::tcp::endpoint endpoint(address, opts.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        std::cerr << "swapgate-sim: cannot listen on " << opts.host << ":" << opts.port << ": " << ec.message() << "\n";
        return 1;
    }
    auto bound = acceptor.local_endpoint(ec);

    asio::co_spawn(ioc, sim::accept_loop(acceptor, app, tls.get()), asio::detached);
    app.registry().start();

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&ioc](const net::error_code& e, int) {
        if (!e) ioc.stop();
    });

    std::printf("{\"event\":\"listening\",\"address\":\"%s\",\"port\":%u}\n", bound.address().to_string().c_str(),
                static_cast<unsigned>(bound.port()));
    std::fflush(stdout);
    std::string names;
    for (const auto& m : opts.models) names += (names.empty() ? "" : ", ") + m.name;
    sim::log_line("serving " + names + (tls ? " over HTTPS" : "") + " with " + std::to_string(opts.threads) +
                  " thread(s)");

    std::vector<std::thread> pool;
    for (int i = 1; i < opts.threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
    return 0;
}
