#include "proxy/redis/redis_link.hpp"

#include <boost/asio/local/stream_protocol.hpp>

#include <algorithm>

namespace swapgate::redis {

namespace asio = net::asio;
using net::error_code;
using generic_endpoint = asio::generic::stream_protocol::endpoint;

const char* failure_name(redis_failure f) {
    switch (f) {
    case redis_failure::none: return "none";
    case redis_failure::unavailable: return "unavailable";
    case redis_failure::timeout: return "timeout";
    case redis_failure::connection_lost: return "connection_lost";
    case redis_failure::server_error: return "server_error";
    case redis_failure::protocol_error: return "protocol_error";
    case redis_failure::invalid_command: return "invalid_command";
    case redis_failure::busy: return "busy";
    case redis_failure::cancelled: return "cancelled";
    case redis_failure::shutdown: return "shutdown";
    }
    return "?";
}

redis_result make_failure(redis_failure kind, std::string message) {
    redis_result r;
    r.failure = kind;
    r.message = std::move(message);
    return r;
}

redis_result make_result(redis_reply reply) {
    redis_result r;
    if (reply.is_error()) {
        r.failure = redis_failure::server_error;
        r.message = "redis: " + reply.str;
    }
    r.reply = std::move(reply);
    return r;
}

std::string io_error_text(const error_code& ec) {
    if (ec == asio::error::eof) return "connection closed by the server";
    if (ec == asio::error::connection_reset) return "connection reset by the server";
    return ec.message();
}

link::link(const asio::any_io_executor& strand) : sock(strand), resolver(strand), guard(strand), rbuf(16 * 1024) {}

void link::close() {
    closed = true;
    error_code ignored;
    sock.close(ignored);
    resolver.cancel();
}

void arm_guard(const std::shared_ptr<link>& l, clock::time_point at) {
    auto gen = ++l->guard_gen;
    l->timed_out = false;
    l->guard.expires_at(at);
    l->guard.async_wait([l, gen](error_code ec) {
        if (ec || gen != l->guard_gen || l->closed) return;
        l->timed_out = true;
        l->close();
    });
}

void disarm_guard(link& l) {
    ++l.guard_gen;
    l.guard.cancel();
}

namespace {

net::awaitable<std::string> connect_socket(std::shared_ptr<link> l, redis_url url) {
    error_code ec;
    if (url.unix_socket) {
        generic_endpoint ep{asio::local::stream_protocol::endpoint(url.path)};
        std::tie(ec) = co_await l->sock.async_connect(ep, net::use_tuple);
        if (l->closed) co_return "closed";
        if (ec) co_return "connect to " + url.path + ": " + ec.message();
        co_return "";
    }
    std::string where = url.host + ":" + std::to_string(url.port);
    auto [rec, results] = co_await l->resolver.async_resolve(url.host, std::to_string(url.port), net::use_tuple);
    if (l->closed) co_return "closed";
    if (rec) co_return "resolve " + url.host + ": " + rec.message();
    if (results.empty()) co_return "resolve " + url.host + ": no address";
    for (const auto& entry : results) {
        error_code ignored;
        l->sock.close(ignored);
        std::tie(ec) = co_await l->sock.async_connect(generic_endpoint(entry.endpoint()), net::use_tuple);
        if (l->closed) co_return "closed";
        if (!ec) break;
    }
    if (ec) co_return "connect to " + where + ": " + ec.message();
    l->sock.set_option(asio::ip::tcp::no_delay(true), ec);
    co_return "";
}

// AUTH and SELECT, pipelined, before the connection carries any command.
net::awaitable<std::string> handshake(std::shared_ptr<link> l, redis_url url) {
    std::string out;
    std::vector<std::string> what;
    if (!url.password.empty()) {
        if (url.user.empty()) append_command(out, {"AUTH", url.password});
        else append_command(out, {"AUTH", url.user, url.password});
        what.push_back("AUTH");
    }
    if (url.db != 0) {
        append_command(out, {"SELECT", std::to_string(url.db)});
        what.push_back("SELECT " + std::to_string(url.db));
    }
    if (out.empty()) co_return "";
    auto [ec, n] = co_await asio::async_write(l->sock, asio::buffer(out), net::use_tuple);
    if (l->closed) co_return "closed";
    if (ec) co_return "sending " + what.front() + ": " + io_error_text(ec);
    for (const auto& w : what) {
        auto r = co_await read_reply(l);
        if (l->closed) co_return "closed";
        if (!r.error.empty()) co_return w + ": " + r.error;
        if (r.reply.is_error()) co_return w + " failed: " + r.reply.str;
    }
    co_return "";
}

void drop(blocking_pool& pool, const std::shared_ptr<link>& l) {
    l->close();
    std::erase(pool.links, l);
}

}  // namespace

net::awaitable<std::string> open_link(std::shared_ptr<link> l, redis_url url, std::chrono::milliseconds timeout) {
    arm_guard(l, clock::now() + timeout);
    std::string err = co_await connect_socket(l, url);
    if (err.empty()) err = co_await handshake(l, url);
    bool timed_out = l->timed_out;
    disarm_guard(*l);
    if (timed_out) co_return "connect timed out after " + std::to_string(timeout.count()) + " ms";
    co_return err;
}

net::awaitable<read_result> read_reply(std::shared_ptr<link> l) {
    read_result r;
    for (;;) {
        auto st = l->decoder.next(r.reply);
        if (st == resp_decoder::status::reply) co_return r;
        if (st == resp_decoder::status::protocol_error) {
            r.error = "protocol error: " + l->decoder.error();
            co_return r;
        }
        auto [ec, n] = co_await l->sock.async_read_some(asio::buffer(l->rbuf), net::use_tuple);
        if (l->closed) {
            r.error = l->timed_out ? "timed out" : "closed";
            co_return r;
        }
        if (ec) {
            r.error = io_error_text(ec);
            co_return r;
        }
        if (!l->decoder.feed(l->rbuf.data(), n)) {
            r.error = "protocol error: " + l->decoder.error();
            co_return r;
        }
    }
}

void blocking_pool::close_all() {
    closed = true;
    for (auto& l : links) l->close();
    links.clear();
}

net::awaitable<redis_result> run_blocking(std::shared_ptr<blocking_pool> pool, std::string bytes,
                                          clock::time_point deadline) {
    auto cs = co_await asio::this_coro::cancellation_state;
    auto shut = [] { return make_failure(redis_failure::shutdown, "redis client shut down"); };
    auto cancelled = [] { return make_failure(redis_failure::cancelled, "redis command cancelled"); };
    for (int attempt = 0;; ++attempt) {
        std::shared_ptr<link> l;
        for (auto& c : pool->links)
            if (!c->busy) {
                l = c;
                break;
            }
        bool reused = l != nullptr;
        if (!l) {
            if (pool->links.size() >= pool->max)
                co_return make_failure(redis_failure::busy, "redis: all " + std::to_string(pool->max) +
                                                                " blocking connections are busy");
            l = std::make_shared<link>(pool->strand);
            pool->links.push_back(l);
        }
        l->busy = true;
        if (!reused) {
            std::string err = co_await open_link(l, pool->url, pool->connect_timeout);
            if (pool->closed) co_return shut();
            if (cs.cancelled() != asio::cancellation_type::none) {
                drop(*pool, l);
                co_return cancelled();
            }
            if (!err.empty()) {
                drop(*pool, l);
                co_return make_failure(redis_failure::unavailable, "redis unavailable: " + err);
            }
        }
        arm_guard(l, deadline);
        auto [ec, n] = co_await asio::async_write(l->sock, asio::buffer(bytes), net::use_tuple);
        read_result rr;
        if (!ec && !l->closed && cs.cancelled() == asio::cancellation_type::none) rr = co_await read_reply(l);
        bool timed_out = l->timed_out;
        disarm_guard(*l);
        if (pool->closed) co_return shut();
        if (cs.cancelled() != asio::cancellation_type::none) {
            drop(*pool, l);  // the server may still be blocked on it
            co_return cancelled();
        }
        if (timed_out) {
            drop(*pool, l);
            co_return make_failure(redis_failure::timeout, "redis blocking command timed out");
        }
        if (ec || !rr.error.empty()) {
            drop(*pool, l);
            bool protocol = rr.error.rfind("protocol error", 0) == 0;
            // An idle connection the server closed meanwhile (restart, timeout): once more on a new one.
            if (reused && attempt == 0 && !protocol) continue;
            if (protocol) co_return make_failure(redis_failure::protocol_error, "redis " + rr.error);
            co_return make_failure(redis_failure::connection_lost,
                                   "redis connection lost: " + (ec ? io_error_text(ec) : rr.error));
        }
        l->busy = false;
        co_return make_result(std::move(rr.reply));
    }
}

}  // namespace swapgate::redis
