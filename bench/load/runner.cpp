#include "bench/load/runner.hpp"

#include "bench/load/http_client.hpp"
#include "bench/load/http_request.hpp"
#include "bench/load/report.hpp"
#include "bench/load/run_control.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace swapgate::bench {
namespace asio = sn::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) { g_interrupted.store(true); }

struct target_ctx {
    target_url url;
    sn::tcp::resolver::results_type endpoints;
    request_writer writer;
};

// Read-only after setup, except the atomics; shared by all shards.
struct shared_run {
    const options& opts;
    std::optional<workload> wl;
    const std::vector<trace_entry>& trace;
    std::vector<target_ctx> targets;
    run_control control;
    bench_clock::time_point start;
    bench_clock::duration timeout;
    std::atomic<std::uint64_t> saturated{0};
    std::atomic<bool> connected{false};
};

// One I/O thread: its own io_context, workers or arrival loop, connection pool and stats.
// Everything inside runs on that single thread, so no strands and no locks.
class shard {
public:
    shard(shared_run& run, unsigned id, unsigned count)
        : run_(run), id_(id), count_(count), pause_(ctx_), slot_freed_(ctx_), idle_(run.targets.size()),
          stats_(run.targets.size()) {
        cap_ = std::max(1u, (run.opts.max_inflight + count - 1) / count);
    }

    void start() {
        auto ex = ctx_.get_executor();
        if (!run_.opts.trace_path.empty()) {
            asio::co_spawn(ex, trace_loop(), asio::detached);
        } else if (run_.opts.rate) {
            asio::co_spawn(ex, poisson_loop(), asio::detached);
        } else {
            for (unsigned w = id_; w < run_.opts.concurrency; w += count_) asio::co_spawn(ex, closed_worker(), asio::detached);
        }
    }
    void run() { ctx_.run(); }
    std::vector<target_stats>& stats() { return stats_; }

private:
    std::size_t target_of(std::uint64_t index) const { return index % run_.targets.size(); }

    void record(std::uint64_t index, std::size_t target, const request_result& r) {
        if (r.transport != request_result::failure::connect_error) run_.connected.store(true, std::memory_order_relaxed);
        if (run_.control.measured(index)) stats_[target].add(r);
        run_.control.completed(index, !r.ok(), bench_clock::now());
    }

    // Closed loop: one request at a time on this worker's own keep-alive connections.
    sn::awaitable<void> closed_worker() {
        auto ex = co_await asio::this_coro::executor;
        std::vector<std::unique_ptr<http_connection>> conns;
        for (std::size_t t = 0; t < run_.targets.size(); ++t) conns.push_back(std::make_unique<http_connection>(ex));
        sn::steady_timer backoff(ex);
        std::string request;
        while (auto index = run_.control.claim(bench_clock::now())) {
            const std::size_t t = target_of(*index);
            run_.targets[t].writer.write(run_.wl->make(*index), request);
            auto r = co_await perform_request(*conns[t], run_.targets[t].endpoints, request, run_.timeout);
            record(*index, t, r);
            if (r.transport == request_result::failure::connect_error) {
                // A refused connect returns at once; do not spin the CPU on a dead target.
                backoff.expires_after(std::chrono::milliseconds(50));
                co_await backoff.async_wait();
            }
        }
    }

    // Open loop: Poisson arrivals at this shard's share of --rate (a sum of independent
    // Poisson processes is a Poisson process of the summed rate).
    sn::awaitable<void> poisson_loop() {
        poisson_arrivals gen(*run_.opts.rate / count_, run_.opts.workload.seed * 31 + id_);
        auto next = run_.start;
        for (;;) {
            next += std::chrono::duration_cast<bench_clock::duration>(std::chrono::duration<double>(gen.next_gap_s()));
            if (!co_await sleep_until(next)) break;
            auto index = run_.control.claim(bench_clock::now());
            if (!index) break;
            const std::size_t t = target_of(*index);
            std::string request;
            run_.targets[t].writer.write(run_.wl->make(*index), request);
            co_await launch(*index, t, std::move(request));
        }
    }

    // Trace replay: entries index % count == id, each at start + t / speed.
    sn::awaitable<void> trace_loop() {
        const auto& trace = run_.trace;
        for (std::size_t i = id_; i < trace.size(); i += count_) {
            const auto at = run_.start + std::chrono::duration_cast<bench_clock::duration>(
                                             std::chrono::duration<double>(trace[i].t_s / run_.opts.trace_speed));
            if (!co_await sleep_until(at)) break;
            if (!run_.control.admit(i, bench_clock::now())) break;
            const std::size_t t = target_of(i);
            std::string request;
            run_.targets[t].writer.write(trace[i].spec, request);
            co_await launch(i, t, std::move(request));
        }
    }

    // Waits for a free in-flight slot, then starts the request without waiting for it.
    sn::awaitable<void> launch(std::uint64_t index, std::size_t t, std::string request) {
        if (inflight_ >= cap_) run_.saturated.fetch_add(1, std::memory_order_relaxed);
        while (inflight_ >= cap_) {
            slot_freed_.expires_at(bench_clock::time_point::max());
            co_await slot_freed_.async_wait();
        }
        ++inflight_;
        asio::co_spawn(ctx_.get_executor(), open_request(index, t, std::move(request)), asio::detached);
    }

    sn::awaitable<void> open_request(std::uint64_t index, std::size_t t, std::string request) {
        auto& idle = idle_[t];
        std::unique_ptr<http_connection> conn;
        if (!idle.empty()) {
            conn = std::move(idle.back());
            idle.pop_back();
        } else {
            conn = std::make_unique<http_connection>(ctx_.get_executor());
        }
        auto r = co_await perform_request(*conn, run_.targets[t].endpoints, request, run_.timeout);
        record(index, t, r);
        if (conn->is_open()) idle.push_back(std::move(conn));
        --inflight_;
        slot_freed_.cancel();
    }

    // Sleeps until `t` in slices, so stop() and the duration end are noticed during long gaps.
    // Returns false when the measurement window has closed.
    sn::awaitable<bool> sleep_until(bench_clock::time_point t) {
        for (;;) {
            const auto now = bench_clock::now();
            if (run_.control.window_closed(now)) co_return false;
            if (now >= t) co_return true;
            pause_.expires_at(std::min(t, now + std::chrono::milliseconds(250)));
            co_await pause_.async_wait();
        }
    }

    shared_run& run_;
    unsigned id_, count_;
    asio::io_context ctx_{1};
    sn::steady_timer pause_;
    sn::steady_timer slot_freed_;   // cancelled whenever an in-flight request finishes
    unsigned inflight_ = 0, cap_ = 1;
    std::vector<std::vector<std::unique_ptr<http_connection>>> idle_;   // per target
    std::vector<target_stats> stats_;                                   // per target
};

sn::awaitable<void> check_connect(std::vector<target_ctx>& targets, double timeout_s, std::string& error) {
    auto ex = co_await asio::this_coro::executor;
    for (auto& t : targets) {
        sn::tcp_socket socket(ex);
        sn::steady_timer timer(ex);
        timer.expires_after(std::chrono::duration_cast<bench_clock::duration>(
            std::chrono::duration<double>(std::min(timeout_s, 10.0))));
        auto r = co_await (asio::async_connect(socket, t.endpoints) || timer.async_wait());
        if (r.index() == 1) {
            error = "cannot connect to " + t.url.text + ": timed out";
            co_return;
        }
        if (auto ec = std::get<0>(std::get<0>(r)); ec) {
            error = "cannot connect to " + t.url.text + ": " + ec.message();
            co_return;
        }
    }
}

// Resolves every target and checks that it accepts a TCP connection. Returns an error or "".
std::string preflight(std::vector<target_ctx>& targets, double timeout_s) {
    asio::io_context ctx;
    for (auto& t : targets) {
        sn::error_code ec;
        sn::tcp::resolver resolver(ctx);
        t.endpoints = resolver.resolve(t.url.host, t.url.port, ec);
        if (ec) return "cannot resolve " + t.url.host + ": " + ec.message();
    }
    std::string error;
    asio::co_spawn(ctx, check_connect(targets, timeout_s, error), asio::detached);
    ctx.run();
    return error;
}

// Prints progress every second until `finished` is set; forwards Ctrl-C to the run.
void progress_loop(shared_run& run, std::mutex& m, std::condition_variable& cv, const bool& finished) {
    const bool tty = ::isatty(STDERR_FILENO) == 1;
    std::uint64_t last_done = 0;
    auto last_tick = bench_clock::now();
    unsigned ticks = 0;
    bool printed = false;
    std::unique_lock lock(m);
    while (!finished) {
        cv.wait_for(lock, std::chrono::milliseconds(100));
        if (g_interrupted.exchange(false)) {
            run.control.stop();
            if (!run.opts.quiet) std::fprintf(stderr, "%sinterrupted: finishing requests in flight (Ctrl-C again to abort)\n", printed && tty ? "\n" : "");
            std::signal(SIGINT, SIG_DFL);
        }
        const auto now = bench_clock::now();
        if (now - last_tick < std::chrono::seconds(1) || finished) continue;
        const double dt = std::chrono::duration<double>(now - last_tick).count();
        last_tick = now;
        ++ticks;
        const auto done = run.control.done();
        const double rps = static_cast<double>(done - last_done) / dt;
        last_done = done;
        if (run.opts.quiet) continue;
        const auto line = format_progress(run.control.elapsed_s(now), done, rps, run.control.errors());
        if (tty) {
            std::fprintf(stderr, "\r%-72s", line.c_str());
            printed = true;
        } else if (ticks % 5 == 0) {
            std::fprintf(stderr, "%s\n", line.c_str());
        }
    }
    if (printed) std::fprintf(stderr, "\r%-72s\r", "");
}

}  // namespace

run_result run_load(const options& o, const std::vector<trace_entry>& trace) {
    run_result result;
    std::vector<target_ctx> targets;
    for (const auto& t : o.targets) targets.push_back(target_ctx{t, {}, request_writer(t, o)});
    if (auto err = preflight(targets, o.timeout_s); !err.empty()) {
        result.fatal = err;
        return result;
    }

    const auto start = bench_clock::now();
    shared_run run{o, std::nullopt, trace, std::move(targets), run_control(o.warmup, o.requests, o.duration_s, start), start,
                   std::chrono::duration_cast<bench_clock::duration>(std::chrono::duration<double>(o.timeout_s))};
    if (o.trace_path.empty()) run.wl.emplace(o.workload);

    const unsigned n = o.threads;
    std::vector<std::unique_ptr<shard>> shards;
    for (unsigned i = 0; i < n; ++i) shards.push_back(std::make_unique<shard>(run, i, n));

    g_interrupted = false;
    auto previous = std::signal(SIGINT, on_sigint);
    std::mutex m;
    std::condition_variable cv;
    bool finished = false;
    std::thread progress([&] { progress_loop(run, m, cv, finished); });

    std::vector<std::thread> threads;
    for (auto& s : shards) {
        s->start();
        threads.emplace_back([&s] { s->run(); });
    }
    for (auto& t : threads) t.join();
    {
        std::lock_guard lock(m);
        finished = true;
    }
    cv.notify_all();
    progress.join();
    std::signal(SIGINT, previous);

    const double duration = run.control.measured_duration_s();
    for (std::size_t t = 0; t < run.targets.size(); ++t) {
        target_stats merged;
        for (auto& s : shards) merged.merge(std::move(s->stats()[t]));
        result.targets.push_back(summarize_target(run.targets[t].url.text, merged, duration));
    }
    result.saturated = run.saturated.load();
    result.connected = run.connected.load();
    return result;
}

}  // namespace swapgate::bench
