// Prometheus metrics: counter, gauge and histogram families with labels, safe to
// update from any thread, rendered in the text exposition format by GET /metrics.
#pragma once
#include <atomic>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace swapgate::proxy {

// Label values in the order of the family's label names. The hot path builds one
// joined key string per update (values separated by \x1f), not a vector of strings.
using label_values = std::initializer_list<std::string_view>;

class counter_family {
public:
    counter_family(std::string name, std::string help, std::vector<std::string> labels);
    void add(label_values values, double by = 1);
    double value(label_values values) const;
    void render(std::string& out) const;

private:
    std::string name_, help_;
    std::vector<std::string> labels_;
    mutable std::mutex mu_;
    std::map<std::string, double> series_;
};

class gauge {
public:
    gauge(std::string name, std::string help) : name_(std::move(name)), help_(std::move(help)) {}
    void add(long long by) { v_.fetch_add(by, std::memory_order_relaxed); }
    long long value() const { return v_.load(std::memory_order_relaxed); }
    void render(std::string& out) const;

private:
    std::string name_, help_;
    std::atomic<long long> v_{0};
};

// Gauges with labels, set to absolute values (queue depth, memory per device).
class gauge_family {
public:
    gauge_family(std::string name, std::string help, std::vector<std::string> labels);
    void set(label_values values, double v);
    void render(std::string& out) const;

private:
    std::string name_, help_;
    std::vector<std::string> labels_;
    mutable std::mutex mu_;
    std::map<std::string, double> series_;
};

class histogram_family {
public:
    histogram_family(std::string name, std::string help, std::vector<std::string> labels,
                     std::vector<double> bounds);
    void observe(label_values values, double v);
    void render(std::string& out) const;

private:
    struct series {
        std::vector<unsigned long long> buckets;  // cumulative at render time
        unsigned long long count = 0;
        double sum = 0;
    };
    std::string name_, help_;
    std::vector<std::string> labels_;
    std::vector<double> bounds_;
    mutable std::mutex mu_;
    std::map<std::string, series> series_;
};

// The proxy's own series. Later modules add families of their own here.
class metrics {
public:
    metrics();
    counter_family requests;          // endpoint, model, backend, status
    histogram_family duration;        // endpoint, model
    histogram_family time_to_first_byte;  // endpoint, model
    counter_family upstream_errors;   // backend, kind
    counter_family upstream_connects; // backend, reused
    counter_family stream_ends;       // reason: done, client_gone, upstream_error, upstream_timeout
    gauge open_connections;
    gauge inflight_requests;
    // The swap scheduler's (proxy/swap).
    counter_family model_loads;        // model, kind (cold|wake), outcome (ok|failed)
    counter_family model_unloads;      // model, reason (make_room, max_wait, ttl, admin, over_budget, crash, shutdown)
    histogram_family model_load_time;  // model
    histogram_family queue_wait;       // model: time from arrival to dispatch of requests that queued
    counter_family queue_rejections;   // model, status
    gauge_family queue_depth;          // model
    gauge_family model_state;          // model, state: 1 for its current state
    gauge_family device_memory;        // device, kind (resident|budget), in MB
    // The response cache's (proxy/cache).
    counter_family cache_lookups;      // model, result (hit, miss, semantic_hit, bypass, off)
    counter_family cache_stores;       // model, outcome (stored, not_complete, too_large)
    counter_family cache_store_errors; // op (get, set, ...): Redis failures served as misses / dropped stores
    counter_family cache_semantic_rejects;  // reason: candidates that failed verification, skipped embeddings
    gauge_family cache_backend_up;     // store (redis|memory): 1 when usable
    // Routing (proxy/forward.cpp).
    counter_family route_decisions;    // rule (name, alias, tier, pattern, auto, auto_default)
    counter_family fallbacks;          // from (model), trigger
    counter_family remote_instead_of_wait;  // model
    counter_family coalesced;          // model: requests that joined an identical one in flight
    gauge_family breaker_state;        // backend: 0 closed, 1 half-open, 2 open
    histogram_family embed_batch_size; // model: requests per batched embeddings call

    std::string render() const;
};

}  // namespace swapgate::proxy
