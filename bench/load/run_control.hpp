// Decides which request indices are issued and which are measured, and counts completions
// for the progress line. Shared by all I/O threads (atomics only); no Asio.
//
// Index i < warmup is a warmup request (sent, not measured). The measurement window opens
// when index `warmup` is issued and closes for new requests after `duration_s`, after
// `requests` measured indices, or on stop(). Requests already in flight still complete and
// are measured.
#pragma once
#include "bench/load/response_recorder.hpp"

#include <atomic>
#include <cstdint>
#include <optional>

namespace swapgate::bench {

class run_control {
public:
    run_control(std::uint64_t warmup, std::optional<std::uint64_t> requests, std::optional<double> duration_s,
                bench_clock::time_point start);

    // Closed loop and Poisson arrivals: the next index to send, or nullopt when issuing is over.
    std::optional<std::uint64_t> claim(bench_clock::time_point now);
    // Trace replay: may entry `index` be sent now? False once issuing is over.
    bool admit(std::uint64_t index, bench_clock::time_point now);
    // Whether stop() was called or the duration has elapsed (the request count is enforced
    // by claim() and admit()).
    bool window_closed(bench_clock::time_point now);

    bool measured(std::uint64_t index) const { return index >= warmup_; }
    void stop() { stopped_.store(true, std::memory_order_relaxed); }

    // A request finished at `t`.
    void completed(std::uint64_t index, bool error, bench_clock::time_point t);

    std::uint64_t done() const { return done_.load(std::memory_order_relaxed); }
    std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
    // Seconds from the first measured send to the last measured completion (0 if none).
    double measured_duration_s() const;
    // Seconds since the run started.
    double elapsed_s(bench_clock::time_point now) const;

private:
    std::int64_t ns_since_start(bench_clock::time_point t) const;
    bool admit_index(std::uint64_t index, bench_clock::time_point now);

    std::uint64_t warmup_;
    std::optional<std::uint64_t> limit_;      // warmup + requests
    std::optional<std::int64_t> duration_ns_;
    bench_clock::time_point start_;
    std::atomic<std::uint64_t> next_{0};
    std::atomic<bool> stopped_{false};
    std::atomic<std::int64_t> measure_start_ns_{-1};
    std::atomic<std::int64_t> last_done_ns_{-1};
    std::atomic<std::uint64_t> done_{0}, errors_{0};
};

}  // namespace swapgate::bench
