// One small HTTP exchange with a model server outside the request path:
// health polls, Ollama's /api/* and vLLM's /sleep and /wake_up. Uses the
// backend's pool (TLS, keep-alive) with one deadline for the whole exchange.
#pragma once
#include "proxy/upstream.hpp"

#include <chrono>
#include <string>

namespace swapgate::proxy {

struct probe_result {
    int status = 0;     // 0: no HTTP response (connect failure, timeout, ...)
    std::string body;
    std::string error;  // why there was no response
    bool ok() const { return status / 100 == 2; }
    std::string describe() const;  // "HTTP 503: {...}" or the error
};

// `path` is from the host root ("/health", "/api/ps"), not under the base path.
net::awaitable<probe_result> http_probe(backend_pool& pool, std::string method, std::string path, std::string body,
                                        std::chrono::milliseconds timeout);

}  // namespace swapgate::proxy
