// Measurements of swapgate-semantic-bench: build an index with progress, time
// lookups per query (steady_clock) from one or more threads, compare with the truth.
#pragma once
#include "bench/semantic/dataset.hpp"
#include "cache/vector_index.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace swapgate::bench::semantic {

struct latency {
    double p50_us = 0, p99_us = 0, mean_us = 0, max_us = 0;
};
latency summarize(std::vector<double> micros);

// Inserts rows 0..n-1 of `data` (ids: id_of(i)) and returns the seconds spent in
// upsert (row generation excluded). Progress lines on stderr every 10% when `label`
// is not empty.
double fill(cache::vector_index& index, const dataset& data, std::size_t n, const std::string& label);

using answers = std::vector<std::optional<cache::index_hit>>;

struct timings {
    std::vector<double> wall_us;  // steady_clock around each nearest()
    std::vector<double> cpu_us;   // the thread's CPU time in it: without waits for a core
};

// Runs queries[0..count) through index.nearest() on `threads` threads (query i on
// thread i % threads); per-query times and the answers, both by query.
timings time_lookups(const cache::vector_index& index, const std::vector<query>& queries, std::size_t count,
                     unsigned threads, answers& out);

struct quality {
    std::size_t queries = 0;   // with a known true answer
    double recall_at_1 = 0;    // the true nearest (or one scoring the same)
    double recall_near = 0;    // ... over near-duplicate queries
    double recall_fresh = 0;   // ... over fresh queries
    std::size_t truth_hits = 0;  // queries whose true nearest scores >= threshold
    double hit_recall = 0;       // of those, the share where the index returns that entry
};
quality compare(const std::vector<query>& queries, const answers& truth, const answers& got, float threshold);

}  // namespace swapgate::bench::semantic
