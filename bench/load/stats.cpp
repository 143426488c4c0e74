#include "bench/load/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace swapgate::bench {

std::optional<double> percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return std::nullopt;
    const auto n = static_cast<double>(sorted.size());
    // The epsilon keeps p/100*n from rounding up past an exact integer (0.999 * 1000 is not 999.0).
    double rank = std::ceil(p / 100.0 * n - 1e-9);
    rank = std::clamp(rank, 1.0, n);
    return sorted[static_cast<std::size_t>(rank) - 1];
}

summary summarize(std::vector<double>& sample) {
    summary s;
    s.count = sample.size();
    if (sample.empty()) return s;
    std::sort(sample.begin(), sample.end());
    s.p50 = percentile(sample, 50);
    s.p90 = percentile(sample, 90);
    s.p99 = percentile(sample, 99);
    s.p999 = percentile(sample, 99.9);
    s.max = sample.back();
    s.mean = std::accumulate(sample.begin(), sample.end(), 0.0) / static_cast<double>(sample.size());
    return s;
}

double throughput(double events, double duration_s) {
    if (!(duration_s > 0)) return 0;
    return events / duration_s;
}

bool request_result::ok() const {
    return transport == failure::none && http_status >= 200 && http_status < 300 && !stream_error;
}

std::string request_result::error_key() const {
    switch (transport) {
    case failure::connect_error: return "connect_error";
    case failure::read_error: return "read_error";
    case failure::timeout: return "timeout";
    case failure::none: break;
    }
    if (http_status < 200 || http_status >= 300) return std::to_string(http_status);
    if (stream_error) return "stream_error";
    return {};
}

void target_stats::add(const request_result& r) {
    ++requests;
    if (!r.cache.empty()) ++cache[r.cache];
    if (!r.ok()) {
        ++errors[r.error_key()];
        return;
    }
    ++ok;
    output_tokens += r.output_tokens;
    latency_ms.push_back(r.latency_ms);
    if (r.ttft_ms) ttft_ms.push_back(*r.ttft_ms);
    itl_ms.insert(itl_ms.end(), r.itl_ms.begin(), r.itl_ms.end());
}

void target_stats::merge(target_stats&& o) {
    requests += o.requests;
    ok += o.ok;
    output_tokens += o.output_tokens;
    for (auto& [k, v] : o.errors) errors[k] += v;
    for (auto& [k, v] : o.cache) cache[k] += v;
    latency_ms.insert(latency_ms.end(), o.latency_ms.begin(), o.latency_ms.end());
    ttft_ms.insert(ttft_ms.end(), o.ttft_ms.begin(), o.ttft_ms.end());
    itl_ms.insert(itl_ms.end(), o.itl_ms.begin(), o.itl_ms.end());
    o = target_stats{};
}

target_summary summarize_target(std::string url, target_stats& s, double duration_s) {
    target_summary t;
    t.url = std::move(url);
    t.requests = s.requests;
    t.ok = s.ok;
    t.output_tokens = s.output_tokens;
    t.errors = s.errors;
    t.cache = s.cache;
    t.duration_s = duration_s;
    t.throughput_rps = throughput(static_cast<double>(s.requests), duration_s);
    t.output_tokens_per_s = throughput(static_cast<double>(s.output_tokens), duration_s);
    t.latency = summarize(s.latency_ms);
    t.ttft = summarize(s.ttft_ms);
    t.itl = summarize(s.itl_ms);
    return t;
}

}  // namespace swapgate::bench
