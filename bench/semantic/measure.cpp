#include "bench/semantic/measure.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <time.h>

namespace swapgate::bench::semantic {

using clock_type = std::chrono::steady_clock;

latency summarize(std::vector<double> us) {
    latency l;
    if (us.empty()) return l;
    std::sort(us.begin(), us.end());
    auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<std::size_t>(q * us.size()))]; };
    l.p50_us = at(0.50);
    l.p99_us = at(0.99);
    l.max_us = us.back();
    double sum = 0;
    for (double x : us) sum += x;
    l.mean_us = sum / static_cast<double>(us.size());
    return l;
}

double fill(cache::vector_index& index, const dataset& data, std::size_t n, const std::string& label) {
    std::vector<float> row(data.dims());
    clock_type::duration spent{};
    auto start = clock_type::now();
    std::size_t next_report = n / 10;
    for (std::size_t i = 0; i < n; ++i) {
        data.row(i, row);
        std::string id = id_of(i);
        auto t = clock_type::now();
        index.upsert(id, row);
        spent += clock_type::now() - t;
        if (!label.empty() && n >= 10 && i + 1 == next_report) {
            double wall = std::chrono::duration<double>(clock_type::now() - start).count();
            std::fprintf(stderr, "  %s: %zu/%zu inserted (%zu%%), %.1f s, %.0f inserts/s\n", label.c_str(), i + 1, n,
                         (i + 1) * 100 / n, wall, static_cast<double>(i + 1) / wall);
            next_report += n / 10;
        }
    }
    return std::chrono::duration<double>(spent).count();
}

namespace {

double thread_cpu_us() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

}  // namespace

timings time_lookups(const cache::vector_index& index, const std::vector<query>& queries, std::size_t count,
                     unsigned threads, answers& out) {
    count = std::min(count, queries.size());
    threads = std::max(threads, 1u);
    timings t{std::vector<double>(count), std::vector<double>(count)};
    out.assign(count, std::nullopt);
    auto work = [&](unsigned first) {
        for (std::size_t i = first; i < count; i += threads) {
            double cpu = thread_cpu_us();
            auto start = clock_type::now();
            auto hit = index.nearest(queries[i].vector);
            t.wall_us[i] = std::chrono::duration<double, std::micro>(clock_type::now() - start).count();
            t.cpu_us[i] = thread_cpu_us() - cpu;
            out[i] = std::move(hit);
        }
    };
    if (threads == 1) {
        work(0);
    } else {
        std::vector<std::thread> pool;
        for (unsigned i = 0; i < threads; ++i) pool.emplace_back(work, i);
        for (auto& th : pool) th.join();
    }
    return t;
}

quality compare(const std::vector<query>& queries, const answers& truth, const answers& got, float threshold) {
    quality q;
    std::size_t ok = 0, near = 0, near_ok = 0, fresh = 0, fresh_ok = 0, hit_ok = 0;
    for (std::size_t i = 0; i < truth.size() && i < got.size(); ++i) {
        if (!truth[i]) continue;
        ++q.queries;
        // Same entry, or one with the same score (duplicates; float vs double sums).
        bool right = got[i] && (got[i]->id == truth[i]->id || got[i]->score >= truth[i]->score - 1e-5f);
        ok += right;
        (queries[i].near ? near : fresh) += 1;
        (queries[i].near ? near_ok : fresh_ok) += right;
        if (truth[i]->score >= threshold) {
            ++q.truth_hits;
            hit_ok += right;
        }
    }
    auto share = [](std::size_t a, std::size_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; };
    q.recall_at_1 = share(ok, q.queries);
    q.recall_near = share(near_ok, near);
    q.recall_fresh = share(fresh_ok, fresh);
    q.hit_recall = share(hit_ok, q.truth_hits);
    return q;
}

}  // namespace swapgate::bench::semantic
