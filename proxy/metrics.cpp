#include "proxy/metrics.hpp"

#include <cstdlib>

#include <cstdio>

namespace swapgate::proxy {
namespace {

void escape_label(std::string& out, std::string_view v) {
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
}

std::string join_key(label_values values) {
    std::string key;
    bool first = true;
    for (auto v : values) {
        if (!first) key += '\x1f';
        first = false;
        key.append(v);
    }
    return key;
}

void labels_text(std::string& out, const std::vector<std::string>& names, std::string_view key,
                 const char* extra_name = nullptr, const std::string& extra_value = {}) {
    if (names.empty() && !extra_name) return;
    out += '{';
    bool first = true;
    for (size_t i = 0; i < names.size(); ++i) {
        size_t sep = key.find('\x1f');
        std::string_view value = key.substr(0, sep);
        key = sep == std::string_view::npos ? std::string_view{} : key.substr(sep + 1);
        if (!first) out += ',';
        first = false;
        out += names[i];
        out += "=\"";
        escape_label(out, value);
        out += '"';
    }
    if (extra_name) {
        if (!first) out += ',';
        out += extra_name;
        out += "=\"";
        out += extra_value;
        out += '"';
    }
    out += '}';
}

// The shortest spelling that reads back as the same double (0.1, not 0.10000000000000001).
std::string number(double v) {
    char buf[64];
    for (int precision = 6; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

counter_family::counter_family(std::string name, std::string help, std::vector<std::string> labels)
    : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)) {}

void counter_family::add(label_values values, double by) {
    std::string key = join_key(values);
    std::lock_guard lock(mu_);
    series_[key] += by;
}

double counter_family::value(label_values values) const {
    std::string key = join_key(values);
    std::lock_guard lock(mu_);
    auto it = series_.find(key);
    return it == series_.end() ? 0 : it->second;
}

void counter_family::render(std::string& out) const {
    header(out, name_, help_, "counter");
    std::lock_guard lock(mu_);
    for (const auto& [values, v] : series_) {
        out += name_;
        labels_text(out, labels_, values);
        out += ' ' + number(v) + '\n';
    }
}

void gauge::render(std::string& out) const {
    header(out, name_, help_, "gauge");
    out += name_ + ' ' + std::to_string(value()) + '\n';
}

histogram_family::histogram_family(std::string name, std::string help, std::vector<std::string> labels,
                                   std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)), bounds_(std::move(bounds)) {}

void histogram_family::observe(label_values values, double v) {
    std::string key = join_key(values);
    std::lock_guard lock(mu_);
    auto& s = series_[key];
    if (s.buckets.empty()) s.buckets.assign(bounds_.size(), 0);
    for (size_t i = 0; i < bounds_.size(); ++i)
        if (v <= bounds_[i]) {
            ++s.buckets[i];
            break;
        }
    ++s.count;
    s.sum += v;
}

void histogram_family::render(std::string& out) const {
    header(out, name_, help_, "histogram");
    std::lock_guard lock(mu_);
    for (const auto& [values, s] : series_) {
        unsigned long long cumulative = 0;
        for (size_t i = 0; i < bounds_.size(); ++i) {
            cumulative += s.buckets[i];
            out += name_ + "_bucket";
            labels_text(out, labels_, values, "le", number(bounds_[i]));
            out += ' ' + std::to_string(cumulative) + '\n';
        }
        out += name_ + "_bucket";
        labels_text(out, labels_, values, "le", "+Inf");
        out += ' ' + std::to_string(s.count) + '\n';
        out += name_ + "_sum";
        labels_text(out, labels_, values);
        out += ' ' + number(s.sum) + '\n';
        out += name_ + "_count";
        labels_text(out, labels_, values);
        out += ' ' + std::to_string(s.count) + '\n';
    }
}

namespace {
const std::vector<double> latency_bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                         1,     2.5,    5,     10,   30,    60,   120, 300};
}

metrics::metrics()
    : requests("swapgate_requests_total", "Requests answered, by endpoint, model, backend and HTTP status.",
               {"endpoint", "model", "backend", "status"}),
      duration("swapgate_request_duration_seconds", "Time from request received to last byte sent.",
               {"endpoint", "model"}, latency_bounds),
      time_to_first_byte("swapgate_time_to_first_byte_seconds",
                         "Time from request received to the first body byte from the backend (first token "
                         "for streams).",
                         {"endpoint", "model"}, latency_bounds),
      upstream_errors("swapgate_upstream_errors_total",
                      "Failed exchanges with backends, by kind (connect, tls, timeout, protocol, closed).",
                      {"backend", "kind"}),
      upstream_connects("swapgate_upstream_connections_total",
                        "Upstream connections used, by whether a pooled one was reused.", {"backend", "reused"}),
      stream_ends("swapgate_stream_ends_total", "How relayed streams ended.", {"reason"}),
      open_connections("swapgate_open_connections", "Client connections currently open."),
      inflight_requests("swapgate_inflight_requests", "Requests currently being served."),
      model_loads("swapgate_model_loads_total", "Model loads and wakes started by the scheduler, by outcome.",
                  {"model", "kind", "outcome"}),
      model_unloads("swapgate_model_unloads_total", "Model unloads (and sleeps), by reason.", {"model", "reason"}),
      model_load_time("swapgate_model_load_seconds", "Time from load start to the model serving.", {"model"},
                      {0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300}),
      queue_wait("swapgate_queue_wait_seconds", "Time requests waited for their model to be loaded.", {"model"},
                 {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120}),
      queue_rejections("swapgate_queue_rejections_total",
                       "Requests the scheduler refused (429 queue full, 503 timeout or failed load).",
                       {"model", "status"}),
      queue_depth("swapgate_queue_depth", "Requests waiting for their model.", {"model"}),
      model_state("swapgate_model_state", "1 for the state each managed model is in.", {"model", "state"}),
      device_memory("swapgate_device_memory_mb", "Memory per device: resident models and the budget.",
                    {"device", "kind"}),
      cache_lookups("swapgate_cache_lookups_total", "Cache outcomes of proxied requests.", {"model", "result"}),
      cache_stores("swapgate_cache_stores_total", "Completions offered to the cache, by outcome.", {"model", "outcome"}),
      cache_store_errors("swapgate_cache_store_errors_total",
                         "Cache store operations that failed (served as a miss, or the store dropped).", {"op"}),
      cache_semantic_rejects("swapgate_cache_semantic_rejects_total",
                             "Semantic candidates rejected by verification, and lookups skipped, by reason.",
                             {"reason"}),
      cache_backend_up("swapgate_cache_store_up", "1 while the cache store is usable.", {"store"}),
      route_decisions("swapgate_route_decisions_total", "Routing decisions by the kind of rule that made them.", {"rule"}),
      fallbacks("swapgate_fallbacks_total", "Hops given up for the next one on the chain, by trigger.", {"model", "trigger"}),
      remote_instead_of_wait("swapgate_remote_instead_of_wait_total",
                             "Requests sent to a remote hop because the local model would have taken too long to load.",
                             {"model"}),
      coalesced("swapgate_coalesced_requests_total",
                "Requests answered by joining an identical request already in flight (no upstream call of their own).",
                {"model"}),
      breaker_state("swapgate_breaker_state", "Circuit breaker per backend: 0 closed, 1 half-open, 2 open.", {"backend"}),
      embed_batch_size("swapgate_embed_batch_size", "Requests per batched /v1/embeddings call.", {"model"},
                       {1, 2, 4, 8, 16, 32, 64, 128}) {}

gauge_family::gauge_family(std::string name, std::string help, std::vector<std::string> labels)
    : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)) {}

void gauge_family::set(label_values values, double v) {
    std::string key = join_key(values);
    std::lock_guard lock(mu_);
    series_[key] = v;
}

void gauge_family::render(std::string& out) const {
    header(out, name_, help_, "gauge");
    std::lock_guard lock(mu_);
    for (const auto& [values, v] : series_) {
        out += name_;
        labels_text(out, labels_, values);
        out += ' ' + number(v) + '\n';
    }
}

std::string metrics::render() const {
    std::string out;
    out.reserve(8192);
    requests.render(out);
    duration.render(out);
    time_to_first_byte.render(out);
    upstream_errors.render(out);
    upstream_connects.render(out);
    stream_ends.render(out);
    open_connections.render(out);
    inflight_requests.render(out);
    model_loads.render(out);
    model_unloads.render(out);
    model_load_time.render(out);
    queue_wait.render(out);
    queue_rejections.render(out);
    queue_depth.render(out);
    model_state.render(out);
    device_memory.render(out);
    cache_lookups.render(out);
    cache_stores.render(out);
    cache_store_errors.render(out);
    cache_semantic_rejects.render(out);
    cache_backend_up.render(out);
    route_decisions.render(out);
    fallbacks.render(out);
    remote_instead_of_wait.render(out);
    coalesced.render(out);
    breaker_state.render(out);
    embed_batch_size.render(out);
    return out;
}

}  // namespace swapgate::proxy
