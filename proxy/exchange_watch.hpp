// Guards one upstream exchange: the deadline of the phase it is in (connect,
// response headers, gaps in the body, total) and the client going away. Either
// one aborts the upstream call, closing its connection at once.
//
// It runs no coroutine of its own: one timer and one wait on the client socket
// with plain handlers on the session strand. (Racing the exchange with two
// watcher coroutines through `||` cost three co_spawns per request.) The
// handlers hold only the shared state, so the exchange may end at any moment:
// finish() (or the destructor) makes every pending handler a no-op.
#pragma once
#include "config/config.hpp"
#include "proxy/net/net.hpp"

#include <chrono>
#include <memory>

namespace swapgate::proxy {

class upstream_call;
using clock = std::chrono::steady_clock;

// What a client socket that polled readable means: nothing after all (wait
// again), more bytes (a pipelined request: still there), or the end (gone).
enum class client_readable { spurious, more, gone };
client_readable classify_readable(net::tcp_stream::socket_type& client);

// Where an exchange stands, for its deadline and for error messages.
enum class phase { connect, first_byte, body, done };
const char* phase_text(phase p);

class exchange_watch {
public:
    // `client` may be null (no client to watch). The client watch is armed only
    // for exchanges still running after `client_arm_delay`: most proxied requests
    // end within milliseconds and arming costs a system call.
    exchange_watch(net::asio::any_io_executor strand, const config::timeout_settings& t, net::tcp_stream::socket_type* client,
                   std::chrono::milliseconds client_arm_delay = std::chrono::milliseconds(20));
    ~exchange_watch();
    exchange_watch(const exchange_watch&) = delete;
    exchange_watch& operator=(const exchange_watch&) = delete;

    void attach(upstream_call& call);  // the call to abort; before the exchange starts
    void enter(phase p);               // (re)starts that phase's clock
    void progress();                   // body bytes arrived: pushes the idle deadline out
    void finish();                     // the exchange is over; idempotent
    void client_left();                // nobody waits for the answer any more: abort as if the client left

    bool fired() const;
    phase fired_phase() const;
    bool total_exceeded() const;
    bool client_gone() const;

private:
    struct state;
    std::shared_ptr<state> st_;
};

}  // namespace swapgate::proxy
