// One keep-alive HTTP/1.1 client connection and the per-request operation built on it
// (connect if needed, write, read the response incrementally, total deadline).
// The only bench file that includes Beast.
#pragma once
#include "bench/load/response_recorder.hpp"
#include "proxy/net/net.hpp"

#include <memory>
#include <string_view>

namespace swapgate::bench {

namespace sn = swapgate::net;

// Owns a socket, its read buffer and a body buffer. Runs on the executor it was built with
// (one io_context thread per shard, so no strand). A cancelled exchange leaves it closed.
class http_connection {
public:
    explicit http_connection(const sn::asio::any_io_executor& ex);
    ~http_connection();

    bool is_open() const;
    void close();

    // Connects to the first reachable endpoint; disables Nagle.
    sn::awaitable<sn::error_code> connect(const sn::tcp::resolver::results_type& endpoints);

    struct outcome {
        sn::error_code ec;
        bool got_response_bytes = false;  // false: nothing came back (a stale keep-alive connection)
    };
    // Writes `request`, reads the response into `rec`. Closes the connection on error or
    // when the server does not keep it alive.
    sn::awaitable<outcome> exchange(std::string_view request, response_recorder& rec);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Sends one request on `conn` (connecting if it is closed) and measures it. The timeout
// bounds connect + write + the whole response; on timeout the connection is closed and the
// result is `timeout`. A reused connection that fails before any response byte is retried
// once on a fresh connection (the server may have closed it while idle). Never throws for
// network errors.
sn::awaitable<request_result> perform_request(http_connection& conn,
                                              const sn::tcp::resolver::results_type& endpoints,
                                              std::string_view request, bench_clock::duration timeout);

}  // namespace swapgate::bench
