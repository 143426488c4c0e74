// The request side of swapgate-sim: shared counters, fault settings, the model
// registry, and the dispatcher that maps each HTTP request to its handler.
// Handlers write their response through client_io and return whether the
// connection may carry another request.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "bench/sim/client_io.hpp"
#include "bench/sim/model_spec.hpp"
#include "bench/sim/models.hpp"
#include "bench/sim/request.hpp"

namespace swapgate::sim {

// Process-wide counters (GET /sim/stats).
struct sim_stats {
    std::atomic<uint64_t> http_requests{0};         // every HTTP request
    std::atomic<uint64_t> requests{0};              // inference: chat, completions, embeddings
    std::atomic<uint64_t> connections_accepted{0};
    std::atomic<uint64_t> open_connections{0};
    std::atomic<uint64_t> active_requests{0};       // inference requests in progress (queued ones too)
    std::atomic<uint64_t> completed{0};             // inference requests answered 200 in full
    std::atomic<uint64_t> errors{0};                // inference requests answered with an error status
    std::atomic<uint64_t> client_disconnects{0};    // abandoned because the client left
    std::atomic<uint64_t> faults_injected{0};       // fail_nth, sim.status, die/stall/exit
};

// Every Nth completion request fails with `status` (POST /sim/faults, --fail-nth).
struct fault_settings {
    std::atomic<uint64_t> fail_nth{0};
    std::atomic<int> fail_status{500};
    std::atomic<uint64_t> seen{0};
    // The status the next completion request must fail with, or 0.
    int next() {
        uint64_t n = fail_nth.load(std::memory_order_relaxed);
        if (n == 0) return 0;
        return (seen.fetch_add(1, std::memory_order_relaxed) + 1) % n == 0 ? fail_status.load() : 0;
    }
};

class app {
public:
    app(net::asio::any_io_executor ex, const sim_options& opts);

    models& registry() { return models_; }
    sim_stats& stats() { return stats_; }
    fault_settings& faults() { return faults_; }

    // Handles one request; false when the connection must close afterwards.
    net::awaitable<bool> handle(http_request& req, client_io& io);

private:
    models models_;
    sim_stats stats_;
    fault_settings faults_;
};

// Handlers, one file per family (generation.cpp, management.cpp, app.cpp).
net::awaitable<bool> handle_generation(app& a, http_request& req, client_io& io, endpoint kind);
net::awaitable<bool> handle_embeddings(app& a, http_request& req, client_io& io);
net::awaitable<bool> handle_ollama(app& a, http_request& req, client_io& io, std::string_view path);
net::awaitable<bool> handle_vllm(app& a, http_request& req, client_io& io, std::string_view path);

// Helpers shared by the handlers.
std::string_view path_of(std::string_view target);
std::string query_param(std::string_view target, std::string_view name);  // percent-decoded, "" when absent
// Writes a complete response; false when the connection must close.
net::awaitable<bool> respond(client_io& io, int status, std::string_view body, bool keep_alive,
                             std::string_view extra_headers = {});
// OpenAI 404 for an unknown model.
std::string model_not_found(std::string_view name);
// RFC 3339 UTC time with nanoseconds, as Ollama prints it.
std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace swapgate::sim
