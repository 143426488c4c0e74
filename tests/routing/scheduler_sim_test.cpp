// The policy comparison in simulated time: value vs fifo vs lru on
// (a) Zipf popularity over 5 models with bursts, (b) interleaved agent
// traffic A B A A C A B C, (c) a single model. Prints the figures.
#include "routing/scheduler_sim.hpp"
#include "scheduler_harness.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace swapgate::routing::test {
namespace {

struct comparison {
    sim_report value, fifo, lru;
};

comparison run_all(const std::vector<device_spec>& devs, const std::vector<sim_model>& models,
                   const std::vector<sim_request>& trace, const char* title, int max_loaded_global = 2) {
    comparison c;
    for (auto p : {policy_kind::value, policy_kind::fifo, policy_kind::lru}) {
        scheduler_settings st;
        st.policy = p;
        st.max_loaded_global = max_loaded_global;
        auto rep = simulate(st, devs, models, trace);
        EXPECT_TRUE(rep.errors.empty()) << rep.errors.front();
        EXPECT_EQ(rep.served + rep.rejected + rep.failed, rep.requests) << to_string(p);
        std::printf("[sim] %-34s %-5s %s\n", title, std::string(to_string(p)).c_str(), summary(rep).c_str());
        (p == policy_kind::value ? c.value : p == policy_kind::fifo ? c.fifo : c.lru) = std::move(rep);
    }
    return c;
}

sim_model sim(std::string name, long long mb, duration cold, int slots = 4) {
    sim_model m;
    m.spec = make_model(std::move(name), mb);
    m.spec.slots = slots;
    m.spec.initial_load_cost = cold;  // the prior matches the truth here
    m.spec.max_queue = 256;
    m.spec.queue_timeout = std::chrono::seconds(600);
    m.cold_load = cold;
    m.unload = 500ms;
    return m;
}

TEST(SchedulerSim, IsDeterministic) {
    std::vector<sim_model> ms{sim("a", 6000, 8s), sim("b", 6000, 8s)};
    auto trace = agent_trace("ABAAC", 10, 2, 3s, 2s);
    for (auto& r : trace) r.model %= 2;
    auto x = simulate({}, {gpu(8000)}, ms, trace), y = simulate({}, {gpu(8000)}, ms, trace);
    EXPECT_EQ(x.waits, y.waits);
    EXPECT_EQ(x.loads, y.loads);
}

TEST(SchedulerSim, InterleavedAgentTrafficValueSwapsFarLessThanFifo) {
    // Budget for one 6 GB model at a time; loads take 8 s; 3 agents each send
    // the next request of A B A A C A B C 3 s after the previous one.
    std::vector<sim_model> ms{sim("a", 6000, 8s), sim("b", 6000, 8s), sim("c", 6000, 8s)};
    const auto trace = agent_trace("ABAACABC", 8, 3, 3s, 2s);
    auto c = run_all({gpu(8000)}, ms, trace, "agents ABAACABC, room for 1");
    EXPECT_LT(c.value.swaps * 2, c.fifo.swaps);
    EXPECT_LT(c.value.mean_wait, c.fifo.mean_wait);

    // Room for two models: A (half the traffic) should stay, B and C alternate.
    auto c2 = run_all({gpu(12000)}, ms, trace, "agents ABAACABC, room for 2");
    EXPECT_LT(c2.value.swaps, c2.fifo.swaps);
    EXPECT_LT(c2.value.mean_wait, c2.fifo.mean_wait);

    // Light traffic (one agent, 10 s apart): everything swaps on each change of
    // model; value trades latency (minimum residency) for fewer swaps.
    const auto light = agent_trace("ABAACABC", 8, 1, 10s, 2s);
    auto c3 = run_all({gpu(8000)}, ms, light, "agent ABAACABC light, room for 1");
    EXPECT_LT(c3.value.swaps, c3.fifo.swaps);
}

TEST(SchedulerSim, ZipfPopularityWithBursts) {
    // Five models on a 16 GB GPU, two fit; the popular ones are cheap to keep.
    // Lightly loaded: an idle model that served its burst makes room early for
    // a swap that pays, so value swaps about as often as fifo (60 vs 58 here;
    // 56 before that rule) and answers faster (mean wait 11.9 s vs 14.7 s).
    std::vector<sim_model> ms{sim("m0", 7000, 6s), sim("m1", 7000, 8s), sim("m2", 7000, 10s),
                              sim("m3", 7000, 12s), sim("m4", 7000, 15s)};
    const auto trace = zipf_burst_trace(42, 5, 1.2, 0.5, 30s, 8, 600s, 500ms, 4s);
    auto c = run_all({gpu(16000)}, ms, trace, "zipf(1.2) x5 + bursts, room for 2");
    EXPECT_LE(c.value.swaps * 100, c.fifo.swaps * 105);
    EXPECT_LE(c.value.swaps * 3, c.lru.swaps * 2);
    EXPECT_LT(c.value.mean_wait, c.fifo.mean_wait);
    EXPECT_LT(c.value.mean_wait, c.lru.mean_wait);

    // Room for one: value batches (a residency per turn) where the baselines
    // swap for nearly every burst.
    auto c1 = run_all({gpu(8000)}, ms, trace, "zipf(1.2) x5 + bursts, room for 1");
    EXPECT_LE(c1.value.swaps * 2, c1.fifo.swaps);
    EXPECT_LT(c1.value.p95_wait, c1.fifo.p95_wait);
}

TEST(SchedulerSim, SingleModelLoadsOnceUnderEveryPolicy) {
    std::vector<sim_model> ms{sim("only", 6000, 8s)};
    const auto trace = zipf_burst_trace(7, 1, 1.0, 1.0, 20s, 5, 120s, 200ms, 2s);
    auto c = run_all({gpu(8000)}, ms, trace, "single model");
    for (const auto* r : {&c.value, &c.fifo, &c.lru}) {
        EXPECT_EQ(r->loads, 1u);
        EXPECT_EQ(r->swaps, 0u);
        EXPECT_EQ(r->served, r->requests);
    }
    // The first load goes into free room at once: no window to pay.
    EXPECT_LE(c.value.max_wait, c.fifo.max_wait);
}

// ---- the scheduling benchmark's scenarios (bench/scheduling/run.py) --------
// Same traces, models and budgets as the end-to-end benchmark: 4000 MB models
// on a 5000 MB ("fits-1") or 9000 MB ("fits-2") device, 4 slots, the sim's
// load time plus the ~170 ms a process takes to start, the load time as the
// prior. Latency = wait + service, as the benchmark measures it (it matches
// the proxy within a few ms). Issue 5's targets: value swaps at least 2x less
// than fifo and than lru, its p95 latency at least 30 % lower, its longest
// wait no longer. SCHEDULER.md and bench/scheduling/README.md explain why the
// room-for-2 targets cannot all be met (lower bounds).

struct bench_run {
    std::uint64_t swaps = 0;
    double p95 = 0, max = 0;  // latency, seconds
};

struct bench_cmp {
    bench_run value, fifo, lru;
    bool met(double k_swaps = 0.5, double k_p95 = 0.7) const {
        for (const auto* b : {&fifo, &lru})
            if (!(static_cast<double>(value.swaps) <= k_swaps * static_cast<double>(b->swaps) &&
                  value.p95 <= k_p95 * b->p95 && value.max <= b->max))
                return false;
        return true;
    }
};

bench_cmp run_bench(const char* title, long long budget_mb, const std::vector<std::pair<std::string, int>>& models,
                    const std::vector<sim_request>& trace) {
    std::vector<sim_model> ms;
    for (const auto& [name, load_ms] : models) {
        sim_model m;
        m.spec = make_model(name, 4000);
        m.spec.slots = 4;
        m.spec.initial_load_cost = duration{load_ms};
        m.spec.max_queue = 1000;
        m.spec.queue_timeout = 600s;
        m.cold_load = duration{load_ms + 170};
        m.unload = 5ms;
        ms.push_back(m);
    }
    bench_cmp c;
    for (auto p : {policy_kind::value, policy_kind::fifo, policy_kind::lru}) {
        scheduler_settings st;
        st.policy = p;
        auto rep = simulate(st, {gpu(budget_mb)}, ms, trace);
        EXPECT_TRUE(rep.errors.empty());
        EXPECT_EQ(rep.served, rep.requests) << to_string(p);
        std::vector<double> lat;
        for (std::size_t i = 0; i < trace.size(); ++i)
            if (rep.waits[i]) lat.push_back(std::chrono::duration<double>(*rep.waits[i] + trace[i].service).count());
        std::sort(lat.begin(), lat.end());
        bench_run b;
        b.swaps = rep.swaps;
        if (!lat.empty()) {
            const auto k = static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(lat.size()) - 1e-9));
            b.p95 = lat[std::clamp<std::size_t>(k, 1, lat.size()) - 1];
            b.max = lat.back();
        }
        std::printf("[bench-sim] %-34s %-5s swaps=%llu latency p95=%.2fs max=%.2fs\n", title,
                    std::string(to_string(p)).c_str(), static_cast<unsigned long long>(b.swaps), b.p95, b.max);
        (p == policy_kind::value ? c.value : p == policy_kind::fifo ? c.fifo : c.lru) = b;
    }
    return c;
}

const std::vector<std::pair<std::string, int>> zipf_models{{"m0", 1500}, {"m1", 2000}, {"m2", 2500},
                                                           {"m3", 3000}, {"m4", 3000}};
const std::vector<std::pair<std::string, int>> agent_models{{"a", 2000}, {"b", 2000}, {"c", 2000}};

TEST(SchedulerBench, ZipfBurstsRoomForOneMeetsTheTargets) {
    // (a) fits-1: Zipf(1.2) over 5 models, Poisson 0.5/s + bursts of 8 every 15 s, 60 s and 120 s.
    for (int seconds : {60, 120}) {
        const auto trace = zipf_burst_trace(42, 5, 1.2, 0.5, 15s, 8, std::chrono::seconds(seconds), 500ms, 3000ms);
        const std::string title = "(a) zipf fits-1 " + std::to_string(seconds) + " s";
        auto c = run_bench(title.c_str(), 5000, zipf_models, trace);
        EXPECT_TRUE(c.met()) << title;
    }
}

TEST(SchedulerBench, InterleavedAgentsRoomForOneMeetsTheTargets) {
    // (b) fits-1: 3 agents replaying A B A A C A B C, one request every 3 s
    // each, 2 s service; the benchmark's 2 repeats and a longer 8.
    for (int repeats : {2, 8}) {
        const auto trace = agent_trace("ABAACABC", repeats, 3, 3s, 2s);
        const std::string title = "(b) agents fits-1 x" + std::to_string(repeats);
        auto c = run_bench(title.c_str(), 5000, agent_models, trace);
        EXPECT_TRUE(c.met()) << title;
    }
}

TEST(SchedulerBench, RoomForTwoAndSingleModel) {
    // (a) fits-2: value answers faster than both baselines and swaps less,
    // though not 2x less (SCHEDULER.md: "what the targets cost").
    const auto z = zipf_burst_trace(42, 5, 1.2, 0.5, 15s, 8, 60s, 500ms, 3000ms);
    auto a2 = run_bench("(a) zipf fits-2 60 s", 9000, zipf_models, z);
    EXPECT_LT(a2.value.swaps, a2.fifo.swaps);
    EXPECT_LT(a2.value.swaps, a2.lru.swaps);
    EXPECT_LT(a2.value.p95, a2.fifo.p95);
    EXPECT_LT(a2.value.p95, a2.lru.p95);
    EXPECT_LE(a2.value.max, a2.fifo.max);
    // (b) fits-2: A stays, B and C take turns in the other room; p95 and the
    // 2x fewer swaps are out of reach for any policy that loads on demand.
    const auto a = agent_trace("ABAACABC", 2, 3, 3s, 2s);
    auto b2 = run_bench("(b) agents fits-2 x2", 9000, agent_models, a);
    EXPECT_LT(b2.value.swaps, b2.fifo.swaps);
    // (c) a single model: no swaps; the first load goes into free room at once,
    // so value answers exactly like the baselines.
    const auto one = zipf_burst_trace(7, 1, 1.0, 1.0, 10s, 5, 20s, 200ms, 2000ms);
    auto c = run_bench("(c) single", 5000, {{"solo", 2000}}, one);
    EXPECT_EQ(c.value.swaps, 0u);
    EXPECT_LE(c.value.max, c.fifo.max + 1e-9);
    EXPECT_LE(c.value.p95, c.fifo.p95 + 1e-9);
}

}  // namespace
}  // namespace swapgate::routing::test
