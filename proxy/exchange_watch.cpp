#include "proxy/exchange_watch.hpp"

#include "proxy/upstream.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace swapgate::proxy {

namespace asio = net::asio;
using net::error_code;

const char* phase_text(phase p) {
    switch (p) {
        case phase::connect: return "connecting";
        case phase::first_byte: return "waiting for the response headers";
        case phase::body: return "waiting for more of the response";
        case phase::done: return "done";
    }
    return "?";
}

struct exchange_watch::state : std::enable_shared_from_this<state> {
    state(asio::any_io_executor s, const config::timeout_settings& t, net::tcp_stream::socket_type* c,
          std::chrono::milliseconds delay)
        : strand(std::move(s)), timer(strand), timeouts(t), client(c) {
        auto now = clock::now();
        total_at = now + t.total;
        at = total_at;
        client_arm_at = now + delay;
    }

    asio::any_io_executor strand;
    asio::steady_timer timer;
    const config::timeout_settings& timeouts;
    net::tcp_stream::socket_type* client;
    upstream_call* call = nullptr;
    clock::time_point total_at, at, client_arm_at;
    clock::time_point armed_for = clock::time_point::max();
    unsigned generation = 0;
    phase current = phase::connect, fired_phase = phase::connect;
    bool done = false, fired = false, total_exceeded = false, client_gone = false, client_armed = false;

    // (Re)arms the timer for the earlier of the deadline and the client-watch start.
    void arm() {
        clock::time_point next = at;
        if (client && !client_armed && client_arm_at < next) next = client_arm_at;
        armed_for = next;
        timer.expires_at(next);  // a pending wait completes as aborted and is ignored
        timer.async_wait(asio::bind_executor(
            strand, [self = shared_from_this(), g = ++generation](const error_code& ec) { self->on_timer(ec, g); }));
    }

    void on_timer(const error_code& ec, unsigned g) {
        if (done || g != generation || ec) return;
        auto now = clock::now();
        if (client && !client_armed && now >= client_arm_at) watch_client();
        if (now >= at) {
            fired = true;
            fired_phase = current;
            total_exceeded = at >= total_at;
            if (call) call->abort();
            return;
        }
        arm();
    }

    void watch_client() {
        client_armed = true;
        client->async_wait(net::tcp::socket::wait_read,
                           asio::bind_executor(strand, [self = shared_from_this()](const error_code& ec) {
                               self->on_readable(ec);
                           }));
    }

    void on_readable(const error_code& ec) {
        if (done || ec == asio::error::operation_aborted) return;
        if (!ec) {
            auto r = classify_readable(*client);
            if (r == client_readable::spurious) return watch_client();
            if (r == client_readable::more) return;  // a pipelined next request, not a departure: stop watching
        }
        client_gone = true;  // end of stream or a socket error
        if (call) call->abort();
    }

    void set(clock::time_point t) {
        at = std::min(t, total_at);
        if (at < armed_for) arm();  // later deadlines need no timer operation
    }
};

client_readable classify_readable(net::tcp_stream::socket_type& client) {
    char c;
    ssize_t n = ::recv(client.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return client_readable::spurious;
    return n > 0 ? client_readable::more : client_readable::gone;
}

exchange_watch::exchange_watch(asio::any_io_executor strand, const config::timeout_settings& t,
                               net::tcp_stream::socket_type* client, std::chrono::milliseconds client_arm_delay)
    : st_(std::make_shared<state>(std::move(strand), t, client, client_arm_delay)) {
    enter(phase::connect);
}

exchange_watch::~exchange_watch() { finish(); }

void exchange_watch::attach(upstream_call& call) { st_->call = &call; }

void exchange_watch::enter(phase p) {
    if (st_->done) return;
    st_->current = p;
    auto now = clock::now();
    const auto& t = st_->timeouts;
    switch (p) {
        case phase::connect: st_->set(now + t.connect); break;
        case phase::first_byte: st_->set(now + t.first_byte); break;
        case phase::body: st_->set(now + t.idle); break;
        case phase::done: st_->set(st_->total_at); break;
    }
}

void exchange_watch::progress() {
    if (st_->current == phase::body) st_->at = std::min(clock::now() + st_->timeouts.idle, st_->total_at);
}

void exchange_watch::finish() {
    auto& s = *st_;
    if (s.done) return;
    s.done = true;
    s.call = nullptr;
    s.timer.cancel();
    if (s.client_armed && s.client) {
        error_code ignored;
        s.client->cancel(ignored);  // the exchange is over: nothing else is pending on it
    }
}

void exchange_watch::client_left() {
    auto& s = *st_;
    if (s.done) return;
    s.client_gone = true;
    if (s.call) s.call->abort();
}

bool exchange_watch::fired() const { return st_->fired; }
phase exchange_watch::fired_phase() const { return st_->fired_phase; }
bool exchange_watch::total_exceeded() const { return st_->total_exceeded; }
bool exchange_watch::client_gone() const { return st_->client_gone; }

}  // namespace swapgate::proxy
