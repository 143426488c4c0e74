#include "proxy/upstream.hpp"

#include "proxy/metrics.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <tuple>
#include <stdexcept>

namespace swapgate::proxy {

namespace asio = net::asio;
namespace beast = net::beast;
namespace http = net::http;
namespace ssl = asio::ssl;
using net::error_code;
using net::tcp;
using net::use_tuple;

struct upstream_conn {
    std::optional<tcp::socket> plain;
    std::optional<ssl::stream<tcp::socket>> tls;
    beast::flat_buffer buf;
    clock::time_point idle_since{};
    // Body bytes land here first; allocated once per connection, not per read.
    static constexpr size_t scratch_size = 16384;
    std::unique_ptr<char[]> scratch{new char[scratch_size]};

    tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }
};

struct upstream_call::parser_box {
    http::response_parser<http::buffer_body> p;
};

namespace {

// Cheap liveness probe of an idle connection: a FIN, an error or unexpected bytes
// (a server-side close notice) mean it must not be reused.
bool looks_alive(tcp::socket& s) {
    if (!s.is_open()) return false;
    char c;
    ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool is_ip_literal(const std::string& host) {
    error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

bool is_closed_error(const error_code& ec) {
    return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == http::error::partial_message ||
           ec == asio::ssl::error::stream_truncated;
}


}  // namespace

// ---------------------------------------------------------------- pool

backend_pool::backend_pool(asio::any_io_executor ex, config::backend cfg, metrics& m)
    : ex_(std::move(ex)), cfg_(std::move(cfg)), metrics_(m) {
    std::string why;
    auto u = config::parse_url(cfg_.url, why);
    if (!u) throw std::runtime_error("backend '" + cfg_.name + "': url " + why);
    url_ = *u;
    if (url_.tls) {
        tls_ = std::make_unique<ssl::context>(ssl::context::tls_client);
        tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                          ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        error_code ec;
        if (!cfg_.ca_file.empty()) {
            tls_->load_verify_file(cfg_.ca_file, ec);
            if (ec)
                throw std::runtime_error("backend '" + cfg_.name + "': cannot load ca_file '" + cfg_.ca_file +
                                         "': " + ec.message());
        } else {
            tls_->set_default_verify_paths(ec);
        }
        tls_->set_verify_mode(cfg_.tls_verify ? ssl::verify_peer : ssl::verify_none);
    }
}

backend_pool::~backend_pool() = default;

std::unique_ptr<upstream_conn> backend_pool::take_idle() {
    std::lock_guard lock(mu_);
    auto now = clock::now();
    while (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        if (now - c->idle_since >= cfg_.keepalive_idle) continue;
        // A connection used in the last second is alive unless the server closed it in
        // that second; the retry in start() covers that rare case, so skip the syscall.
        if (now - c->idle_since < std::chrono::seconds(1) || looks_alive(c->socket())) return c;
    }
    return nullptr;
}

void backend_pool::give_back(std::unique_ptr<upstream_conn> c) {
    c->idle_since = clock::now();
    std::lock_guard lock(mu_);
    if (static_cast<int>(idle_.size()) < cfg_.max_idle_connections) idle_.push_back(std::move(c));
}

size_t backend_pool::idle_count() {
    std::lock_guard lock(mu_);
    return idle_.size();
}

// ---------------------------------------------------------------- call

upstream_call::upstream_call(backend_pool& pool, exchange_watch& watch) : pool_(pool), dl_(watch) {}

upstream_call::~upstream_call() = default;

error_code upstream_call::fail(failure f, error_code ec) {
    if (aborted_) f = dl_.fired() ? failure::timeout : failure::aborted;
    else if (ec == asio::error::operation_aborted) f = failure::aborted;  // e.g. a forced shutdown
    why_ = f;
    last_ec_ = ec;
    return ec ? ec : asio::error::operation_aborted;
}

std::string upstream_call::reason() const {
    const auto& b = pool_.cfg();
    switch (why_) {
        case failure::none: return "";
        case failure::resolve: return "cannot resolve " + pool_.url().host + ": " + last_ec_.message();
        case failure::connect:
            return "connection to " + pool_.url().host_header + " failed: " + last_ec_.message();
        case failure::tls: return "TLS handshake with " + pool_.url().host_header + " failed: " + last_ec_.message();
        case failure::write: return "sending the request failed: " + last_ec_.message();
        case failure::closed: return "the connection closed before the response was complete";
        case failure::protocol: return "malformed HTTP response: " + last_ec_.message();
        case failure::too_large:
            return "response larger than max_response_size (" + std::to_string(b.max_response_bytes) + " bytes)";
        case failure::timeout: {
            auto ms = [](config::duration d) { return std::to_string(d.count()) + " ms"; };
            if (dl_.total_exceeded()) return "no complete response within the total timeout of " + ms(b.timeouts.total);
            switch (dl_.fired_phase()) {
                case phase::connect: return "could not connect within " + ms(b.timeouts.connect);
                case phase::first_byte: return "no response headers within " + ms(b.timeouts.first_byte);
                default: return "nothing received for " + ms(b.timeouts.idle);
            }
        }
        case failure::aborted: return "the exchange was cancelled";
    }
    return "";
}

void upstream_call::abort() {
    aborted_ = true;
    if (resolving_) resolving_->cancel();
    if (conn_) {
        error_code ec;
        conn_->socket().shutdown(tcp::socket::shutdown_both, ec);
        conn_->socket().close(ec);
    }
}

void upstream_call::release() {
    if (conn_ && done_ && !aborted_ && parser_ && parser_->p.keep_alive()) pool_.give_back(std::move(conn_));
    conn_.reset();
}

net::awaitable<error_code> upstream_call::connect() {
    const auto& u = pool_.url();
    tcp::resolver resolver(pool_.executor());
    // Asio resolves on its own background thread, so the I/O threads never block on
    // DNS (lookups do queue behind each other on that one thread).
    resolving_ = &resolver;
    auto [rec, results] = co_await resolver.async_resolve(u.host, std::to_string(u.port), use_tuple);
    resolving_ = nullptr;
    if (aborted_) co_return fail(failure::aborted, asio::error::operation_aborted);
    if (rec) co_return fail(failure::resolve, rec);
    conn_ = std::make_unique<upstream_conn>();
    if (pool_.tls()) conn_->tls.emplace(pool_.executor(), *pool_.tls());
    else conn_->plain.emplace(pool_.executor());
    auto [cec, ep] = co_await asio::async_connect(conn_->socket(), results, use_tuple);
    if (cec) co_return fail(failure::connect, cec);
    error_code ignored;
    conn_->socket().set_option(tcp::no_delay(true), ignored);
    if (conn_->tls) {
        auto& s = *conn_->tls;
        if (!is_ip_literal(u.host)) SSL_set_tlsext_host_name(s.native_handle(), u.host.c_str());
        if (pool_.cfg().tls_verify) s.set_verify_callback(ssl::host_name_verification(u.host));
        auto [hec] = co_await s.async_handshake(ssl::stream_base::client, use_tuple);
        if (hec) co_return fail(failure::tls, hec);
    }
    co_return error_code{};
}

net::awaitable<error_code> upstream_call::exchange_head(const std::string& request) {
    dl_.enter(phase::first_byte);
    // (GCC 12 miscompiles co_await inside ?:, hence the if/else pairs below.)
    error_code ec;
    size_t n = 0;
    if (conn_->tls) std::tie(ec, n) = co_await asio::async_write(*conn_->tls, asio::buffer(request), use_tuple);
    else std::tie(ec, n) = co_await asio::async_write(*conn_->plain, asio::buffer(request), use_tuple);
    if (ec) co_return fail(failure::write, ec);
    parser_ = std::make_unique<parser_box>();
    parser_->p.header_limit(64 * 1024);
    parser_->p.body_limit(boost::none);
    if (conn_->tls) std::tie(ec, n) = co_await http::async_read_header(*conn_->tls, conn_->buf, parser_->p, use_tuple);
    else std::tie(ec, n) = co_await http::async_read_header(*conn_->plain, conn_->buf, parser_->p, use_tuple);
    if (ec) co_return fail(is_closed_error(ec) ? failure::closed : failure::protocol, ec);
    const auto& h = parser_->p.get();
    head_ = upstream_head{};
    head_.status = static_cast<int>(h.result_int());
    head_.content_type = std::string(h[http::field::content_type]);
    head_.event_stream = head_.content_type.rfind("text/event-stream", 0) == 0;
    for (const auto& f : h) {
        std::string name(f.name_string());
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower == "retry-after" || lower == "retry-after-ms" || lower.rfind("x-ratelimit-", 0) == 0 ||
            lower == "openai-processing-ms")
            head_.pass_headers.emplace_back(name, std::string(f.value()));
    }
    dl_.enter(phase::body);
    if (parser_->p.is_done()) done_ = true;
    co_return error_code{};
}

net::awaitable<error_code> upstream_call::start(std::string request) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        conn_ = attempt == 0 ? pool_.take_idle() : nullptr;
        reused_ = conn_ != nullptr;
        if (!reused_) {
            dl_.enter(phase::connect);
            if (auto ec = co_await connect()) {
                pool_.stats().upstream_errors.add({pool_.cfg().name, why_ == failure::timeout ? "timeout"
                                                                    : why_ == failure::tls   ? "tls"
                                                                                             : "connect"});
                co_return ec;
            }
        }
        pool_.stats().upstream_connects.add({pool_.cfg().name, reused_ ? "true" : "false"});
        auto ec = co_await exchange_head(request);
        if (!ec) co_return ec;
        // A pooled connection the server closed while idle: the request never reached
        // it, so one more try on a fresh connection is safe.
        bool stale = reused_ && !aborted_ &&
                     (why_ == failure::write || (why_ == failure::closed && parser_ && !parser_->p.got_some()));
        if (!stale) {
            pool_.stats().upstream_errors.add({pool_.cfg().name, why_ == failure::timeout ? "timeout"
                                                                 : why_ == failure::aborted ? "cancelled"
                                                                                            : "protocol"});
            co_return ec;
        }
        conn_.reset();
        why_ = failure::none;
    }
    co_return fail(failure::closed, asio::error::connection_reset);
}

net::awaitable<error_code> upstream_call::read_some(std::string& out) {
    if (done_) co_return error_code{};
    auto& p = parser_->p;
    // The connection's scratch buffer, not an array in this frame: coroutine frames live
    // on the heap, and a 16 KiB frame per read showed up in profiles.
    constexpr size_t room = upstream_conn::scratch_size;
    p.get().body().data = conn_->scratch.get();
    p.get().body().size = room;
    p.get().body().more = true;
    error_code ec;
    size_t n = 0;
    if (conn_->tls) std::tie(ec, n) = co_await http::async_read_some(*conn_->tls, conn_->buf, p, use_tuple);
    else std::tie(ec, n) = co_await http::async_read_some(*conn_->plain, conn_->buf, p, use_tuple);
    if (ec == http::error::need_buffer) ec = {};
    size_t got = room - p.get().body().size;
    out.append(conn_->scratch.get(), got);
    // Beast stops after each chunk of a chunked body; chunks already read off the
    // socket are parsed here too, so that what arrived together is relayed in one
    // write (a streaming backend sends one chunk per event).
    while (!ec && !p.is_done() && conn_->buf.size() > 0) {
        p.get().body().data = conn_->scratch.get();
        p.get().body().size = room;
        size_t used = p.put(conn_->buf.data(), ec);
        conn_->buf.consume(used);
        if (ec == http::error::need_buffer || ec == http::error::need_more) ec = {};
        size_t more = room - p.get().body().size;
        out.append(conn_->scratch.get(), more);
        got += more;
        if (used == 0 && more == 0) break;
    }
    if (got) dl_.progress();
    if (ec) {
        pool_.stats().upstream_errors.add({pool_.cfg().name, aborted_ ? (dl_.fired() ? "timeout" : "cancelled")
                                                                      : "closed"});
        co_return fail(is_closed_error(ec) ? failure::closed : failure::protocol, ec);
    }
    if (p.is_done()) {
        done_ = true;
        dl_.enter(phase::done);
    }
    co_return error_code{};
}

net::awaitable<error_code> upstream_call::read_all(std::string& out) {
    while (!done_) {
        if (auto ec = co_await read_some(out)) co_return ec;
        if (out.size() > pool_.cfg().max_response_bytes) {
            abort();
            aborted_ = false;  // our own decision, not a timeout or cancellation
            co_return fail(failure::too_large, asio::error::message_size);
        }
    }
    co_return error_code{};
}

std::string build_upstream_request(const backend_pool& pool, const char* method, const std::string& path,
                                   const std::string& body, const std::string& request_id) {
    const auto& u = pool.url();
    const auto& b = pool.cfg();
    std::string r;
    r.reserve(256 + body.size());
    r.append(method).append(" ").append(u.base_path).append(path).append(" HTTP/1.1\r\nHost: ");
    r.append(u.host_header).append("\r\nUser-Agent: swapgate/0.1\r\nAccept: application/json, text/event-stream\r\n");
    if (!body.empty() || std::string_view(method) == "POST")
        r.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(body.size())).append("\r\n");
    if (!b.api_key.empty()) r.append("Authorization: Bearer ").append(b.api_key).append("\r\n");
    if (!request_id.empty()) r.append("X-Request-Id: ").append(request_id).append("\r\n");
    for (const auto& [k, v] : b.headers) r.append(k).append(": ").append(v).append("\r\n");
    r.append("\r\n").append(body);
    return r;
}

}  // namespace swapgate::proxy
