// Policies and learning: the fifo and lru baselines behave like the tools
// they imitate; reload costs are learned as moving averages.
#include "scheduler_harness.hpp"

namespace swapgate::routing::test {
namespace {

constexpr model_id A = 0, B = 1, C = 2;

TEST(SchedulerLearning, ReloadCostIsAMovingAverageOfMeasuredLoadTimes) {
    scheduler_settings st;
    st.cost_smoothing = 0.3;
    auto a = make_model("a", 1000);
    a.ttl = 1s;
    rig r(st, {gpu(8000)}, {a});
    EXPECT_EQ(r.s().view(A).cold_cost, 4s);  // the prior
    auto cycle = [&](duration took) {
        auto acts = r.arrive_decided(1, A);
        ASSERT_TRUE(loads(acts, A)) << dump(acts);
        r.advance(took);
        r.loaded(A);
        r.finish(1);
        acts = r.run_for(1s);  // ttl
        ASSERT_TRUE(unloads(acts, A)) << dump(acts);
        r.unloaded(A);
    };
    cycle(2s);
    EXPECT_EQ(r.s().view(A).cold_cost, 2s);  // the first measurement replaces the prior
    cycle(4s);
    EXPECT_EQ(r.s().view(A).cold_cost, 2600ms);  // 2 + 0.3 x (4 - 2)
    cycle(12s);
    EXPECT_EQ(r.s().view(A).cold_cost, 5420ms);  // 2.6 + 0.3 x (12 - 2.6)
    const auto v = r.s().view(A);
    EXPECT_EQ(v.load_count, 3);
    EXPECT_EQ(v.mean_load_time, 6s);
    EXPECT_EQ(v.min_residency, 5420ms);  // max(5 s, reload cost)
    EXPECT_EQ(v.max_wait, 10840ms);      // max(10 s, 2 x reload cost)
}

TEST(SchedulerFifo, SwapsAtOnceToTheModelOfTheOldestRequest) {
    scheduler_settings st;
    st.policy = policy_kind::fifo;
    rig r(st, {gpu(8000)}, {make_model("a", 6000), make_model("b", 6000), make_model("c", 6000)});
    auto acts = r.arrive(1, A);
    ASSERT_TRUE(loads(acts, A)) << "fifo decides at once: " << dump(acts);
    r.loaded(A);
    r.finish(1);
    acts = r.arrive(2, B);  // no residency, no window: A goes at once
    ASSERT_TRUE(unloads(acts, A)) << dump(acts);
    r.arrive(3, C);
    r.arrive(4, A);
    acts = r.unloaded(A);
    EXPECT_TRUE(loads(acts, B));
    acts = r.loaded(B);
    EXPECT_TRUE(dispatched(acts, 2));
    // One swap at a time, for the oldest waiting request: C, then A. B was
    // chosen as the victim the moment it loaded; it drains its one request.
    EXPECT_EQ(r.state(B), model_state::draining);
    acts = r.finish(2);
    EXPECT_TRUE(unloads(acts, B)) << dump(acts);
    acts = r.unloaded(B);
    EXPECT_TRUE(loads(acts, C)) << dump(acts) << to_string(r.state(C)) << to_string(r.state(A));
    r.loaded(C);
    EXPECT_TRUE(unloads(r.finish(3), C));
    EXPECT_TRUE(loads(r.unloaded(C), A));
    EXPECT_EQ(r.s().counters().swaps, 3u);
}

TEST(SchedulerLru, LoadsAtOnceAndEvictsTheLeastRecentlyUsed) {
    scheduler_settings st;
    st.policy = policy_kind::lru;
    rig r(st, {gpu(8000)}, {make_model("a", 3000), make_model("b", 3000), make_model("c", 3000)});
    auto acts = r.arrive(1, A);
    ASSERT_TRUE(loads(acts, A));
    acts = r.arrive(2, B);  // a second model loads in parallel, at once
    ASSERT_TRUE(loads(acts, B));
    r.loaded(A);
    r.loaded(B);
    r.finish(2);
    r.advance(1s);
    r.finish(1);  // A is now the most recently used
    r.advance(1s);
    acts = r.arrive(3, C);
    ASSERT_TRUE(unloads(acts, B)) << dump(acts);
    EXPECT_FALSE(unloads(acts, A));
    EXPECT_TRUE(loads(r.unloaded(B), C));
}

TEST(SchedulerValue, GathersAWindowWhereTheBaselinesDoNot) {
    for (auto p : {policy_kind::value, policy_kind::fifo, policy_kind::lru}) {
        scheduler_settings st;
        st.policy = p;
        rig r(st, {gpu(8000)}, {make_model("a", 3000), make_model("b", 3000), make_model("c", 6000)});
        // A load that fits in free room evicts nothing: every policy starts it at once.
        auto acts = r.arrive(1, A);
        EXPECT_TRUE(loads(acts, A)) << to_string(p);
        r.advance(3s);
        r.loaded(A);
        r.finish(1);
        r.advance(1s);
        acts = r.arrive(2, B);  // the other room is free too
        EXPECT_TRUE(loads(acts, B)) << to_string(p);
        r.advance(3s);
        r.loaded(B);
        r.finish(2);
        // A swap (C needs both rooms) waits for the window too; the baselines go at once.
        r.advance(10s);  // past the minimum residency
        acts = r.arrive(4, C);
        EXPECT_EQ(unloads(acts, A) || unloads(acts, B), p != policy_kind::value) << to_string(p) << "\n" << dump(acts);
    }
}

}  // namespace
}  // namespace swapgate::routing::test
