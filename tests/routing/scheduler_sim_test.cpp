// The policy comparison in simulated time: value vs fifo vs lru on
// (a) Zipf popularity over 5 models with bursts, (b) interleaved agent
// traffic A B A A C A B C, (c) a single model. Prints the figures.
#include "routing/scheduler_sim.hpp"
#include "scheduler_harness.hpp"

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
    std::vector<sim_model> ms{sim("m0", 7000, 6s), sim("m1", 7000, 8s), sim("m2", 7000, 10s),
                              sim("m3", 7000, 12s), sim("m4", 7000, 15s)};
    const auto trace = zipf_burst_trace(42, 5, 1.2, 0.5, 30s, 8, 600s, 500ms, 4s);
    auto c = run_all({gpu(16000)}, ms, trace, "zipf(1.2) x5 + bursts, room for 2");
    EXPECT_LE(c.value.swaps, c.fifo.swaps);
    EXPECT_LE(c.value.swaps, c.lru.swaps);
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
    // The window costs the first request at most 100 ms more than the baselines.
    EXPECT_LE(c.value.max_wait, c.fifo.max_wait + 100ms);
}

}  // namespace
}  // namespace swapgate::routing::test
