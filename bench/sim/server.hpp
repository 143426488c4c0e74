// The accept loop and the per-connection session of swapgate-sim.
#pragma once
#include "bench/sim/app.hpp"

namespace swapgate::sim {

// Accepts until the acceptor is closed; each connection runs as its own
// coroutine on its own strand. `tls` (may be null) turns on HTTPS.
net::awaitable<void> accept_loop(net::tcp::acceptor& acceptor, app& a, boost::asio::ssl::context* tls);

}  // namespace swapgate::sim
