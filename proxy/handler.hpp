// Request handling: everything between a parsed request and its response. The
// session (server.cpp) owns the connection; these functions run on its strand.
#pragma once
#include "config/config.hpp"
#include "proxy/client_conn.hpp"
#include "proxy/json_body.hpp"
#include "proxy/metrics.hpp"
#include "proxy/request_log.hpp"
#include "proxy/breakers.hpp"
#include "proxy/embed_batching.hpp"
#include "proxy/cache/response_cache.hpp"
#include "proxy/cache/semantic_tier.hpp"
#include "proxy/swap/swap_service.hpp"
#include "proxy/upstream.hpp"
#include "routing/catalog.hpp"

#include <atomic>
#include <map>
#include <memory>

namespace swapgate::proxy {

class coalescer;

// Everything handlers share. Built once at startup; only metrics, pools and the
// draining flag change afterwards (each thread-safe).
struct proxy_state {
    std::shared_ptr<const config::config> cfg;
    routing::catalog catalog;
    std::map<std::string, std::shared_ptr<backend_pool>> pools;  // `process` models have none here
    metrics stats;
    std::unique_ptr<swap_service> swap;  // residency of models with a driver
    std::unique_ptr<response_cache> cache;
    std::unique_ptr<semantic_tier> semantic;  // when a model has cache.semantic
    std::unique_ptr<breaker_board> breakers;
    std::unique_ptr<embed_batching> batching;
    std::shared_ptr<coalescer> coalesce;  // when routing.coalesce (the default)
    std::atomic<bool> draining{false};
    long long started_at = 0;  // unix seconds, for /v1/models "created"

    explicit proxy_state(std::shared_ptr<const config::config> c) : cfg(c), catalog(c) {}
};

// Answers one request: health, metrics, models, or a proxied completion.
net::awaitable<void> handle_request(proxy_state& st, client_conn& conn, incoming_request req);

// Forwards a completion/embedding request to its backend and relays the answer
// (streamed or not). Fills `rec` for the request log.
net::awaitable<void> forward(proxy_state& st, client_conn& conn, incoming_request& req, endpoint ep,
                             request_record& rec);

// /admin/*: model residency (status, load, unload, unload-idle, can-load).
net::awaitable<void> handle_admin(proxy_state& st, client_conn& conn, incoming_request& req, request_record& rec);

// /admin/cache/*: test hooks (cache.test_hooks).
net::awaitable<void> handle_cache_hooks(proxy_state& st, client_conn& conn, incoming_request& req, request_record& rec);

// A request id from the client's X-Request-Id when it is safe to echo, else a new one.
std::string accept_request_id(std::string_view from_client);

}  // namespace swapgate::proxy
