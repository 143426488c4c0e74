#include "proxy/swap/http_probe.hpp"

namespace swapgate::proxy {

std::string probe_result::describe() const {
    if (status == 0) return error.empty() ? "no response" : error;
    std::string b = body.size() > 300 ? body.substr(0, 300) + "..." : body;
    return "HTTP " + std::to_string(status) + (b.empty() ? "" : ": " + b);
}

net::awaitable<probe_result> http_probe(backend_pool& pool, std::string method, std::string path, std::string body,
                                        std::chrono::milliseconds timeout) {
    const auto& u = pool.url();
    const auto& b = pool.cfg();
    std::string r;
    r.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ").append(u.host_header);
    r.append("\r\nUser-Agent: swapgate/0.1\r\nAccept: application/json\r\n");
    if (method == "POST") r.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(body.size())).append("\r\n");
    if (!b.api_key.empty()) r.append("Authorization: Bearer ").append(b.api_key).append("\r\n");
    for (const auto& [k, v] : b.headers) r.append(k).append(": ").append(v).append("\r\n");
    r.append("\r\n").append(body);

    config::timeout_settings t;
    t.connect = t.first_byte = t.idle = t.total = timeout;
    exchange_watch watch(co_await net::asio::this_coro::executor, t, nullptr);
    upstream_call call(pool, watch);
    watch.attach(call);
    probe_result out;
    if (auto ec = co_await call.start(std::move(r))) {
        out.error = call.reason();
        watch.finish();
        co_return out;
    }
    std::string resp;
    if (auto ec = co_await call.read_all(resp)) {
        out.error = call.reason();
        watch.finish();
        co_return out;
    }
    call.release();
    watch.finish();
    out.status = call.head().status;
    out.body = std::move(resp);
    co_return out;
}

}  // namespace swapgate::proxy
