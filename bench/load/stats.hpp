// Exact latency statistics: every sample is kept, sorted once, and percentiles use the
// nearest-rank definition. No Asio; used by the runner and the report.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace swapgate::bench {

// Nearest-rank percentile of an ascending-sorted sample: the smallest value x[k-1] such that
// at least p% of the sample is <= it, with k = ceil(p/100 * n) clamped to [1, n].
// p in [0, 100]. Empty sample -> nullopt.
std::optional<double> percentile(const std::vector<double>& sorted, double p);

// Summary of one metric (milliseconds). All fields are empty when the sample is empty.
struct summary {
    std::size_t count = 0;
    std::optional<double> p50, p90, p99, p999, max, mean;
};

// Sorts `sample` in place and summarises it.
summary summarize(std::vector<double>& sample);

// Events per second over a window; 0 when the window is empty or negative.
double throughput(double events, double duration_s);

// What one request produced. Filled by the response recorder, consumed by target_stats.
struct request_result {
    enum class failure { none, connect_error, read_error, timeout };
    failure transport = failure::none;
    int http_status = 0;                // 0 when no status line was received
    bool stream_error = false;          // the upstream sent an error event inside a 2xx stream
    double latency_ms = 0;              // request write start -> last byte
    std::optional<double> ttft_ms;      // first content event; equals latency for non-streams
    std::vector<double> itl_ms;         // gaps between consecutive content events
    std::uint64_t output_tokens = 0;    // usage.completion_tokens, else number of content events
    std::string cache;                  // X-Swapgate-Cache response header, empty if absent

    bool ok() const;
    // "connect_error", "read_error", "timeout", the HTTP status as text, or "stream_error".
    // Empty when ok().
    std::string error_key() const;
};

// Everything measured for one target. Latency/TTFT/ITL samples come from ok requests only.
struct target_stats {
    std::uint64_t requests = 0;
    std::uint64_t ok = 0;
    std::uint64_t output_tokens = 0;   // from ok requests
    std::map<std::string, std::uint64_t> errors;
    std::map<std::string, std::uint64_t> cache;
    std::vector<double> latency_ms, ttft_ms, itl_ms;

    void add(const request_result& r);
    void merge(target_stats&& other);
};

// target_stats reduced to numbers for the report.
struct target_summary {
    std::string url;
    std::uint64_t requests = 0, ok = 0, output_tokens = 0;
    std::map<std::string, std::uint64_t> errors;
    std::map<std::string, std::uint64_t> cache;
    double duration_s = 0, throughput_rps = 0, output_tokens_per_s = 0;
    summary latency, ttft, itl;
};

// Consumes the samples of `s` (they are sorted in place).
target_summary summarize_target(std::string url, target_stats& s, double duration_s);

}  // namespace swapgate::bench
