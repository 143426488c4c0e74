// Admission: immediate dispatch, queues, the gathering window, single-flight
// loads, slots, queue limits and cancellation.
#include "scheduler_harness.hpp"

namespace swapgate::routing::test {
namespace {

constexpr model_id A = 0, B = 1, C = 2;

// A rig with A (4 GB), B (4 GB), C (4 GB) on an 8 GB GPU: two fit at once.
rig three_models(scheduler_settings st = {}, int slots = 2) {
    std::vector<model_spec> ms{make_model("a", 4000), make_model("b", 4000), make_model("c", 4000)};
    for (auto& m : ms) m.slots = slots;
    return rig(st, {gpu(8000)}, ms);
}

// Brings `m` to loaded through the normal path (request, load: at once into
// free room, after the window when it must evict).
void load_via_request(rig& r, model_id m, request_id req) {
    auto acts = r.arrive_decided(req, m);
    ASSERT_TRUE(loads(acts, m)) << dump(acts);
    r.advance(1s);
    acts = r.loaded(m);
    ASSERT_TRUE(dispatched(acts, req)) << dump(acts);
    r.finish(req);
}

TEST(SchedulerAdmit, NonResidentRequestLoadsAtOnceIntoFreeRoom) {
    auto r = three_models();
    // Nothing to evict, nobody else waiting: there is no choice to gather for.
    auto acts = r.arrive(1, A);
    ASSERT_EQ(acts.size(), 1u) << dump(acts);
    EXPECT_EQ(acts[0].kind, action::load);
    EXPECT_FALSE(acts[0].wake);
    EXPECT_EQ(r.s().view(A).queued, 1);
    EXPECT_EQ(r.state(A), model_state::loading);
    r.advance(3s);
    acts = r.loaded(A);
    EXPECT_TRUE(dispatched(acts, 1)) << dump(acts);
    EXPECT_EQ(r.state(A), model_state::loaded);
}

TEST(SchedulerAdmit, ASwapWaitsForTheDecisionWindow) {
    auto r = three_models();
    load_via_request(r, A, 1);
    load_via_request(r, B, 2);
    r.advance(10s);  // both past their minimum residency
    EXPECT_TRUE(r.arrive(3, C).empty());
    EXPECT_EQ(r.s().view(C).queued, 1);
    ASSERT_TRUE(r.s().next_wakeup());
    EXPECT_EQ(*r.s().next_wakeup(), r.now() + 100ms);
    EXPECT_TRUE(r.after(99ms).empty());
    auto acts = r.run_for(30s);
    EXPECT_TRUE(unloads(acts, A) || unloads(acts, B)) << dump(acts);
}

TEST(SchedulerAdmit, ResidentModelWithFreeSlotDispatchesInTheSameEvent) {
    auto r = three_models();
    load_via_request(r, A, 1);
    auto acts = r.arrive(2, A);
    ASSERT_EQ(acts.size(), 1u);
    EXPECT_TRUE(dispatched(acts, 2));
}

TEST(SchedulerAdmit, LoadsOfOtherModelsNeverBlockAResidentOne) {
    auto r = three_models();
    load_via_request(r, A, 1);
    auto acts = r.arrive_decided(2, B);
    ASSERT_TRUE(loads(acts, B));
    // B is loading: A keeps serving at once.
    for (request_id q = 10; q < 12; ++q) EXPECT_TRUE(dispatched(r.arrive(q, A), q));
    // Now C needs room: B is loading (not evictable), A is within residency.
    r.arrive(20, C);
    r.after(100ms);
    r.finish(10);
    EXPECT_TRUE(dispatched(r.arrive(30, A), 30));
}

TEST(SchedulerAdmit, BurstOfMixedRequestsYieldsOneLoadPerModel) {
    scheduler_settings st;
    st.max_loaded_global = 3;
    std::vector<model_spec> ms{make_model("a", 2000), make_model("b", 2000), make_model("c", 2000)};
    rig r(st, {gpu(8000, 3)}, ms);
    std::vector<action> all;
    for (request_id q = 0; q < 30; ++q) {
        r.advance(3ms);
        for (auto& a : r.arrive(q, q % 3)) all.push_back(a);
    }
    // Room for all three: each loads at its first request, once.
    EXPECT_EQ(count(all, action::load), 3) << dump(all);
    for (auto& a : r.run_for(200ms)) all.push_back(a);
    EXPECT_EQ(count(all, action::load), 3) << dump(all);
    // More requests while loading: still single flight.
    for (request_id q = 30; q < 60; ++q) {
        r.advance(10ms);
        for (auto& a : r.arrive(q, q % 3)) all.push_back(a);
    }
    for (auto& a : r.run_for(1s)) all.push_back(a);
    EXPECT_EQ(count(all, action::load), 3) << dump(all);
    all = r.loaded(0);
    EXPECT_EQ(count(all, action::dispatch), 4);  // slots
}

TEST(SchedulerAdmit, SlotsLimitParallelismAndTheQueueIsFifo) {
    auto r = three_models({}, 2);
    load_via_request(r, A, 1);
    EXPECT_TRUE(dispatched(r.arrive(2, A), 2));
    EXPECT_TRUE(dispatched(r.arrive(3, A), 3));
    EXPECT_TRUE(r.arrive(4, A).empty());
    EXPECT_TRUE(r.arrive(5, A).empty());
    EXPECT_EQ(r.s().view(A).queued, 2);
    auto acts = r.finish(3);
    ASSERT_EQ(acts.size(), 1u);
    EXPECT_TRUE(dispatched(acts, 4));
    // A newcomer does not overtake the queue.
    EXPECT_TRUE(r.arrive(6, A).empty());
    EXPECT_TRUE(dispatched(r.finish(2), 5));
    EXPECT_TRUE(dispatched(r.finish(4), 6));
}

TEST(SchedulerAdmit, FullQueueAnswers429WithRetryAfter) {
    std::vector<model_spec> ms{make_model("a", 4000)};
    ms[0].max_queue = 2;
    rig r({}, {gpu(8000)}, ms);
    r.arrive(1, A);
    r.arrive(2, A);
    auto acts = r.arrive(3, A);
    const action* rej = find(acts, action::reject, A, 3);
    ASSERT_TRUE(rej) << dump(acts);
    EXPECT_EQ(rej->status, 429);
    EXPECT_GE(rej->retry_after, 1s);
    EXPECT_EQ(rej->retry_after % 1000ms, 0ms);  // whole seconds
    EXPECT_NE(rej->reason.find("'a'"), std::string::npos);
    EXPECT_EQ(r.s().counters().rejected_429, 1u);
}

TEST(SchedulerAdmit, QueueTimeoutAnswers503) {
    std::vector<model_spec> ms{make_model("a", 4000)};
    ms[0].queue_timeout = 5s;
    rig r({}, {gpu(8000)}, ms);
    r.arrive(1, A);
    r.after(100ms);  // load starts
    r.advance(2s);
    r.arrive(2, A);
    auto acts = r.run_for(2800ms);
    EXPECT_EQ(count(acts, action::reject), 0) << dump(acts);
    acts = r.run_for(100ms);  // exactly 5 s after it arrived
    const action* rej = find(acts, action::reject, A, 1);
    ASSERT_TRUE(rej) << dump(acts);
    EXPECT_EQ(rej->status, 503);
    EXPECT_FALSE(find(acts, action::reject, A, 2));
    acts = r.run_for(2100ms);
    EXPECT_TRUE(find(acts, action::reject, A, 2)) << dump(acts);
    // The load in flight completes for nobody: it is kept (ttl applies).
    r.loaded(A);
    EXPECT_EQ(r.state(A), model_state::loaded);
}

TEST(SchedulerAdmit, CancelledQueuedRequestLeavesAtOnceAndIsNeverDispatched) {
    auto r = three_models({}, 1);
    r.arrive(1, A);
    r.arrive(2, A);
    r.arrive(3, A);
    EXPECT_TRUE(r.cancel(2).empty());
    EXPECT_EQ(r.s().view(A).queued, 2);
    r.after(100ms);
    auto acts = r.loaded(A);
    EXPECT_TRUE(dispatched(acts, 1));
    EXPECT_EQ(count(acts, action::dispatch), 1);
    acts = r.finish(1);
    EXPECT_TRUE(dispatched(acts, 3)) << dump(acts);
    EXPECT_FALSE(dispatched(acts, 2));
    EXPECT_EQ(r.s().counters().cancelled_queued, 1u);
    // Cancelling again, or finishing a cancelled id, is ignored.
    EXPECT_TRUE(r.cancel(2).empty());
    EXPECT_TRUE(r.finish(2).empty());
}

TEST(SchedulerAdmit, CancelledRunningRequestFreesItsSlot) {
    auto r = three_models({}, 1);
    load_via_request(r, A, 1);
    EXPECT_TRUE(dispatched(r.arrive(2, A), 2));
    EXPECT_TRUE(r.arrive(3, A).empty());
    EXPECT_TRUE(dispatched(r.cancel(2), 3));
    EXPECT_EQ(r.s().counters().cancelled_running, 1u);
}

TEST(SchedulerAdmit, CancellingEveryWaiterCallsOffALoadNobodyWantsBeforeItStarts) {
    // One model at a time: B needs A's room; A is busy, so it drains.
    std::vector<model_spec> ms{make_model("a", 6000), make_model("b", 6000)};
    rig r({}, {gpu(8000)}, ms);
    load_via_request(r, A, 1);
    EXPECT_TRUE(dispatched(r.arrive(2, A), 2));
    r.advance(60s);  // past min residency; A's two requests are a minute old: the swap pays at once
    r.arrive(3, B);
    auto acts = r.after(100ms);
    EXPECT_TRUE(acts.empty()) << dump(acts);
    EXPECT_EQ(r.state(A), model_state::draining);
    EXPECT_EQ(r.state(B), model_state::pending);
    EXPECT_TRUE(r.arrive(4, A).empty());  // draining admits nothing new
    // The only B waiter leaves: A serves again, B's reservation is gone.
    acts = r.cancel(3);
    EXPECT_EQ(r.state(A), model_state::loaded);
    EXPECT_EQ(r.state(B), model_state::unloaded);
    EXPECT_TRUE(dispatched(acts, 4)) << dump(acts);
    EXPECT_EQ(r.s().counters().reservations_dropped, 1u);
    acts = r.run_for(1s);
    EXPECT_EQ(count(acts, action::unload) + count(acts, action::load), 0) << dump(acts);
}

TEST(SchedulerAdmit, UnknownModelIs400AndDuplicateIdsAreIgnored) {
    auto r = three_models();
    auto acts = r.arrive(1, 99);
    ASSERT_TRUE(find(acts, action::reject, {}, 1));
    EXPECT_EQ(acts[0].status, 400);
    r.arrive(2, A);
    EXPECT_TRUE(r.arrive(2, A).empty());
    EXPECT_EQ(r.s().view(A).queued, 1);
    EXPECT_EQ(r.s().counters().ignored_events, 1u);
}

TEST(SchedulerAdmit, DecisionsHappenAtMostOncePerWindow) {
    // A holds the only room within its residency: B's demand keeps coming.
    std::vector<model_spec> ms{make_model("a", 6000), make_model("b", 6000)};
    ms[0].min_residency = 60s;
    rig r({}, {gpu(8000)}, ms);
    load_via_request(r, A, 1);
    const auto before = r.s().counters().decisions;
    std::vector<time_point> decided;
    for (request_id q = 10; q < 110; ++q) {
        r.advance(10ms);
        r.arrive(q, B);
        if (r.s().counters().decisions != before + decided.size()) decided.push_back(r.now());
    }
    ASSERT_GE(decided.size(), 2u);
    for (std::size_t i = 1; i < decided.size(); ++i) EXPECT_GE(decided[i] - decided[i - 1], 100ms);
    EXPECT_LE(decided.size(), 11u);
}

}  // namespace
}  // namespace swapgate::routing::test
