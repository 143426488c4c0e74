// swapgate-sched-sweep: replays families of traces through the pure scheduler
// simulation (routing::simulate) under value, fifo and lru, and prints, per
// trace and budget, swaps / p95 latency / longest latency of each policy and
// whether value meets issue 5's targets against both baselines (swaps <= 0.5x,
// p95 <= 0.7x, longest <= 1x). No processes, no clock: a sweep of ~150 traces
// takes well under a second. Used to check whether a finding of the end-to-end
// benchmark (bench/scheduling/run.py) depends on the trace's parameters.
//
//   swapgate-sched-sweep zipf|agents [--max-wait MS] [--min-residency MS] [--only-fits N]
#include "routing/scheduler_sim.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

using namespace swapgate::routing;
using namespace std::chrono_literals;

namespace {

struct options {
    std::string family = "zipf";
    std::optional<duration> max_wait, min_residency;
    int only_fits = 0;  // 0 = both budgets
};

struct outcome {
    unsigned long long swaps = 0;
    double p95 = 0, max = 0;
};

// The benchmark's set-up: 4000 MB models, 4 slots, the load time as the prior
// and ~170 ms more for the process start, one device of 5000 MB (room for one)
// or 9000 MB (room for two). Latency = wait + service.
outcome replay(const options& o, policy_kind p, long long budget_mb, const std::vector<std::pair<std::string, int>>& models,
               const std::vector<sim_request>& trace) {
    std::vector<sim_model> ms;
    for (const auto& [name, load_ms] : models) {
        sim_model m;
        m.spec.name = name;
        m.spec.memory_mb = 4000;
        m.spec.device = "gpu0";
        m.spec.slots = 4;
        m.spec.initial_load_cost = duration{load_ms};
        m.spec.max_queue = 1000;
        m.spec.queue_timeout = 600s;
        m.spec.min_residency = o.min_residency;
        m.cold_load = duration{load_ms + 170};
        m.unload = 5ms;
        ms.push_back(m);
    }
    scheduler_settings st;
    st.policy = p;
    st.max_wait = o.max_wait;
    auto rep = simulate(st, {device_spec{"gpu0", budget_mb, 2}}, ms, trace);
    std::vector<double> lat;
    for (std::size_t i = 0; i < trace.size(); ++i)
        if (rep.waits[i]) lat.push_back(std::chrono::duration<double>(*rep.waits[i] + trace[i].service).count());
    outcome r;
    r.swaps = rep.swaps;
    if (lat.empty()) return r;
    std::sort(lat.begin(), lat.end());
    auto k = static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(lat.size()) - 1e-9));
    r.p95 = lat[std::clamp<std::size_t>(k, 1, lat.size()) - 1];
    r.max = lat.back();
    return r;
}

int met_count = 0, total = 0;

void compare(const options& o, const std::string& title, const std::vector<std::pair<std::string, int>>& models,
             const std::vector<sim_request>& trace) {
    for (int fits : {1, 2}) {
        if (o.only_fits && fits != o.only_fits) continue;
        long long budget = fits == 1 ? 5000 : 9000;
        auto v = replay(o, policy_kind::value, budget, models, trace);
        auto f = replay(o, policy_kind::fifo, budget, models, trace);
        auto l = replay(o, policy_kind::lru, budget, models, trace);
        bool met = true;
        for (const auto* b : {&f, &l})
            met = met && static_cast<double>(v.swaps) <= 0.5 * static_cast<double>(b->swaps) && v.p95 <= 0.7 * b->p95 &&
                  v.max <= b->max;
        met_count += met;
        ++total;
        std::printf("| %s | fits-%d | %zu | %llu / %.1f / %.1f | %llu / %.1f / %.1f | %llu / %.1f / %.1f | %s |\n",
                    title.c_str(), fits, trace.size(), v.swaps, v.p95, v.max, f.swaps, f.p95, f.max, l.swaps, l.p95,
                    l.max, met ? "met" : "no");
    }
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto ms = [&](const char* what) {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value in ms\n", what);
                std::exit(2);
            }
            return duration{std::atoll(argv[++i])};
        };
        if (a == "zipf" || a == "agents") o.family = a;
        else if (a == "--max-wait") o.max_wait = ms("--max-wait");
        else if (a == "--min-residency") o.min_residency = ms("--min-residency");
        else if (a == "--only-fits" && i + 1 < argc) o.only_fits = std::atoi(argv[++i]);
        else {
            std::fprintf(stderr,
                         "usage: swapgate-sched-sweep zipf|agents [--max-wait MS] [--min-residency MS] [--only-fits 1|2]\n");
            return 2;
        }
    }
    std::printf("| trace | budget | requests | value swaps / p95 s / max s | fifo | lru | targets |\n|---|---|---:|---|---|---|---|\n");
    if (o.family == "agents") {
        for (const char* pattern : {"ABAACABC", "ABAACABCADAB", "ABACADAB"})
            for (int agents : {3, 4, 6})
                for (int think : {1500, 3000})
                    for (int service : {500, 1000, 2000})
                        for (int load : {2000, 3000}) {
                            auto trace = agent_trace(pattern, 6, agents, duration{think}, duration{service});
                            int n = 0;
                            for (const char* c = pattern; *c; ++c) n = std::max(n, *c - 'A' + 1);
                            std::vector<std::pair<std::string, int>> models;
                            for (int i = 0; i < n; ++i) models.emplace_back(std::string(1, static_cast<char>('a' + i)), load);
                            char title[160];
                            std::snprintf(title, sizeof title, "agents %s x6, %d agents, think %d ms, service %d ms, load %d ms",
                                          pattern, agents, think, service, load);
                            compare(o, title, models, trace);
                        }
    } else {
        for (int n : {5, 6, 8})
            for (double s : {1.0, 1.2})
                for (double rate : {0.5, 1.0})
                    for (int service_max : {1000, 3000})
                        for (int every : {15, 30}) {
                            auto trace = zipf_burst_trace(42, static_cast<std::size_t>(n), s, rate, std::chrono::seconds(every), 8,
                                                          240s, 500ms, duration{service_max});
                            std::vector<std::pair<std::string, int>> models;
                            for (int i = 0; i < n; ++i) models.emplace_back("m" + std::to_string(i), 1500 + 500 * std::min(i, 3));
                            char title[160];
                            std::snprintf(title, sizeof title,
                                          "zipf %d models, s %.1f, Poisson %.1f/s, bursts of 8 every %d s, 240 s, service 0.5-%.0f s",
                                          n, s, rate, every, service_max / 1000.0);
                            compare(o, title, models, trace);
                        }
    }
    std::printf("\nvalue meets all targets against fifo and lru in %d of %d (trace, budget) pairs\n", met_count, total);
    return 0;
}
