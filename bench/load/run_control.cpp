#include "bench/load/run_control.hpp"

namespace swapgate::bench {

run_control::run_control(std::uint64_t warmup, std::optional<std::uint64_t> requests, std::optional<double> duration_s,
                         bench_clock::time_point start)
    : warmup_(warmup), start_(start) {
    if (requests) limit_ = warmup + *requests;
    if (duration_s) duration_ns_ = static_cast<std::int64_t>(*duration_s * 1e9);
}

std::int64_t run_control::ns_since_start(bench_clock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t - start_).count();
}

bool run_control::window_closed(bench_clock::time_point now) {
    if (stopped_.load(std::memory_order_relaxed)) return true;
    if (duration_ns_) {
        const auto ms = measure_start_ns_.load(std::memory_order_relaxed);
        if (ms >= 0 && ns_since_start(now) - ms >= *duration_ns_) {
            stopped_.store(true, std::memory_order_relaxed);
            return true;
        }
    }
    return false;
}

bool run_control::admit_index(std::uint64_t index, bench_clock::time_point now) {
    if (limit_ && index >= *limit_) return false;
    if (index == warmup_) {
        std::int64_t unset = -1;
        measure_start_ns_.compare_exchange_strong(unset, ns_since_start(now), std::memory_order_relaxed);
    }
    if (stopped_.load(std::memory_order_relaxed)) return false;
    if (duration_ns_ && index > warmup_) {
        const auto ms = measure_start_ns_.load(std::memory_order_relaxed);
        if (ms >= 0 && ns_since_start(now) - ms >= *duration_ns_) {
            stopped_.store(true, std::memory_order_relaxed);
            return false;
        }
    }
    return true;
}

std::optional<std::uint64_t> run_control::claim(bench_clock::time_point now) {
    if (stopped_.load(std::memory_order_relaxed)) return std::nullopt;
    const auto index = next_.fetch_add(1, std::memory_order_relaxed);
    if (!admit_index(index, now)) return std::nullopt;
    return index;
}

bool run_control::admit(std::uint64_t index, bench_clock::time_point now) { return admit_index(index, now); }

void run_control::completed(std::uint64_t index, bool error, bench_clock::time_point t) {
    if (!measured(index)) return;
    done_.fetch_add(1, std::memory_order_relaxed);
    if (error) errors_.fetch_add(1, std::memory_order_relaxed);
    const auto ns = ns_since_start(t);
    auto prev = last_done_ns_.load(std::memory_order_relaxed);
    while (prev < ns && !last_done_ns_.compare_exchange_weak(prev, ns, std::memory_order_relaxed)) {
    }
}

double run_control::measured_duration_s() const {
    const auto s = measure_start_ns_.load(std::memory_order_relaxed);
    const auto e = last_done_ns_.load(std::memory_order_relaxed);
    if (s < 0 || e < s) return 0;
    return static_cast<double>(e - s) / 1e9;
}

double run_control::elapsed_s(bench_clock::time_point now) const {
    return static_cast<double>(ns_since_start(now)) / 1e9;
}

}  // namespace swapgate::bench
