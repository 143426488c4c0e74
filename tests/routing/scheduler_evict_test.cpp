// Residency and eviction: the choice of the next model and of victims,
// minimum residency, draining, ttl, pinned/preload/static, memory accounting,
// max_loaded, vllm sleep/wake.
#include "scheduler_harness.hpp"

namespace swapgate::routing::test {
namespace {

constexpr model_id A = 0, B = 1, C = 2, D = 3;

void load_via_request(rig& r, model_id m, request_id req, duration took = 1s) {
    auto acts = r.arrive_decided(req, m);
    ASSERT_TRUE(loads(acts, m)) << dump(acts);
    r.advance(took);
    acts = r.loaded(m);
    ASSERT_TRUE(dispatched(acts, req)) << dump(acts);
    r.finish(req);
}

// Two 6 GB models on 8 GB: one at a time.
rig one_at_a_time(std::vector<model_spec> extra = {}, scheduler_settings st = {}) {
    std::vector<model_spec> ms{make_model("a", 6000), make_model("b", 6000)};
    for (auto& m : extra) ms.push_back(m);
    return rig(st, {gpu(8000)}, ms);
}

TEST(SchedulerEvict, MinResidencyProtectsAFreshModelAndTheLoadWaitsForTheUnload) {
    auto r = one_at_a_time();
    load_via_request(r, A, 1);
    const time_point loaded_at = r.now();
    EXPECT_EQ(r.s().view(A).min_residency, 5s);  // max(5 s, 4 s reload cost)
    r.advance(1s);
    r.arrive(2, B);
    auto acts = r.run_for(3800ms);
    EXPECT_TRUE(acts.empty()) << dump(acts);
    EXPECT_EQ(r.state(A), model_state::loaded);
    acts = r.run_for(loaded_at + 5s - r.now());
    ASSERT_TRUE(unloads(acts, A)) << dump(acts);
    EXPECT_EQ(find(acts, action::unload, A)->reason, "make_room");
    EXPECT_FALSE(loads(acts, B)) << "a load must wait for its victim's unload";
    EXPECT_EQ(r.state(B), model_state::pending);
    EXPECT_TRUE(r.run_for(2s).empty());
    acts = r.unloaded(A);
    EXPECT_TRUE(loads(acts, B)) << dump(acts);
    EXPECT_EQ(r.s().counters().swaps, 1u);
    EXPECT_EQ(r.s().counters().evictions.at("make_room"), 1u);
}

TEST(SchedulerEvict, ADrainingVictimFinishesItsRequestsThenUnloads) {
    auto r = one_at_a_time();
    load_via_request(r, A, 1);
    EXPECT_TRUE(dispatched(r.arrive(2, A), 2));
    r.advance(60s);  // A's requests are a minute old: evicting it pays at once
    r.arrive(3, B);
    auto acts = r.run_for(100ms);
    EXPECT_TRUE(acts.empty()) << dump(acts);
    EXPECT_EQ(r.state(A), model_state::draining);
    EXPECT_EQ(r.s().view(A).eviction_reason, "make_room");
    EXPECT_TRUE(r.arrive(4, A).empty()) << "a draining model admits nothing new";
    acts = r.finish(2);
    ASSERT_EQ(acts.size(), 1u) << dump(acts);
    EXPECT_TRUE(unloads(acts, A));
    acts = r.unloaded(A);
    EXPECT_TRUE(loads(acts, B));
    acts = r.loaded(B);
    EXPECT_TRUE(dispatched(acts, 3));
    // Request 4 still waits on A: A comes back once B's residency is over.
    EXPECT_EQ(r.s().view(A).queued, 1);
    r.finish(3);
    acts = r.run_for(5s);
    EXPECT_TRUE(unloads(acts, B)) << dump(acts);
}

TEST(SchedulerEvict, DrainTimeoutFailsTheRunningRequestsThenUnloads) {
    scheduler_settings st;
    st.drain_timeout = 30s;
    auto r = one_at_a_time({}, st);
    load_via_request(r, A, 1);
    r.arrive(2, A);
    r.advance(60s);
    r.arrive(3, B);
    r.run_for(100ms);
    ASSERT_EQ(r.state(A), model_state::draining);
    EXPECT_TRUE(r.run_for(29s).empty());
    auto acts = r.run_for(1s);
    ASSERT_EQ(acts.size(), 2u) << dump(acts);
    EXPECT_EQ(acts[0].kind, action::fail_request);
    EXPECT_EQ(acts[0].req, 2u);
    EXPECT_NE(acts[0].reason.find("drain_timeout"), std::string::npos);
    EXPECT_TRUE(unloads(acts, A));
    EXPECT_EQ(r.s().counters().drain_timeouts, 1u);
    EXPECT_TRUE(r.finish(2).empty());  // late finish of a failed request: ignored
}

TEST(SchedulerEvict, PrefersIdleVictimsThenLowRateTimesCost) {
    scheduler_settings st;
    st.max_loaded_global = 3;
    std::vector<model_spec> ms{make_model("a", 3000), make_model("b", 3000), make_model("c", 3000),
                               make_model("d", 3000)};
    rig r(st, {gpu(9000, 3)}, ms);
    load_via_request(r, A, 1);
    load_via_request(r, B, 2);
    load_via_request(r, C, 3);
    for (request_id q = 10; q < 20; ++q) {  // C is popular
        r.advance(100ms);
        r.arrive(q, C);
        r.finish(q);
    }
    EXPECT_TRUE(dispatched(r.arrive(30, A), 30));  // A is busy (and least recently used)
    r.advance(10s);
    r.arrive(40, D);
    auto acts = r.run_for(100ms);
    ASSERT_EQ(count(acts, action::unload), 1) << dump(acts);
    EXPECT_TRUE(unloads(acts, B)) << dump(acts);
    EXPECT_EQ(r.state(A), model_state::loaded);
}

TEST(SchedulerEvict, ReloadCostWeighsInTheVictimChoice) {
    scheduler_settings st;
    st.max_loaded_global = 3;
    std::vector<model_spec> ms{make_model("a", 3000), make_model("b", 3000), make_model("c", 3000)};
    rig r(st, {gpu(6000, 3)}, ms);
    // A and B asked for at the same moment (equal rates); A loads in 30 s, B in 1 s.
    r.arrive(1, A);
    r.arrive(2, B);
    r.run_for(100ms);
    r.advance(1s);
    r.loaded(B);
    r.advance(29s);
    r.loaded(A);
    r.finish(1);  // A is now the more recently used; B is still the cheaper to lose
    r.finish(2);
    r.advance(40s);
    r.arrive(3, C);
    auto acts = r.run_for(100ms);
    EXPECT_TRUE(unloads(acts, B)) << dump(acts);
}

TEST(SchedulerEvict, NextModelIsTheHighestDemandPerReloadCost) {
    std::vector<model_spec> ms{make_model("a", 6000), make_model("b", 6000), make_model("c", 6000)};
    ms[B].initial_load_cost = 1s;
    ms[C].initial_load_cost = 20s;
    rig r({}, {gpu(8000)}, ms);
    load_via_request(r, A, 1);
    r.advance(10s);
    r.arrive(2, B);
    for (request_id q = 3; q < 6; ++q) r.arrive(q, C);  // 3 waiters, but 20x the cost
    auto acts = r.run_for(100ms);
    ASSERT_TRUE(unloads(acts, A));
    EXPECT_TRUE(loads(r.unloaded(A), B));

    // Same costs: the model with more waiters wins.
    std::vector<model_spec> ms2{make_model("a", 6000), make_model("b", 6000), make_model("c", 6000)};
    rig r2({}, {gpu(8000)}, ms2);
    load_via_request(r2, A, 1);
    r2.advance(10s);
    r2.arrive(2, B);
    for (request_id q = 3; q < 6; ++q) r2.arrive(q, C);
    r2.run_for(100ms);
    EXPECT_TRUE(loads(r2.unloaded(A), C));
}

TEST(SchedulerEvict, MaxWaitPutsTheModelFirstOnceResidencyAllows) {
    // A stays 30 s; B's one request passes max_wait (10 s) meanwhile; C then
    // gets five fresh requests (the higher score). B goes first, without the
    // swap-worth test, as soon as A's residency is over.
    auto a = make_model("a", 6000);
    a.min_residency = 30s;
    std::vector<model_spec> ms{a, make_model("b", 6000), make_model("c", 6000)};
    rig r({}, {gpu(8000)}, ms);
    load_via_request(r, A, 1);
    const time_point loaded_at = r.now();
    r.arrive(2, B);
    EXPECT_EQ(r.s().view(B).max_wait, 10s);
    auto acts = r.run_for(20s);
    EXPECT_TRUE(acts.empty()) << dump(acts);
    for (request_id q = 3; q < 8; ++q) r.arrive(q, C);
    acts = r.run_for(loaded_at + 30s - r.now() - 1ms);
    EXPECT_TRUE(acts.empty()) << dump(acts);
    acts = r.run_for(1ms);
    ASSERT_TRUE(unloads(acts, A)) << dump(acts);
    EXPECT_EQ(find(acts, action::unload, A)->reason, "max_wait");
    EXPECT_TRUE(loads(r.unloaded(A), B));
    EXPECT_EQ(r.s().counters().evictions.at("max_wait"), 1u);
}

TEST(SchedulerEvict, AHotModelIsNotSwappedOutForOneColdRequestUntilItPays) {
    // A is asked for every second; one request for B arrives. Evicting A would
    // hurt ~rate x (load B + B's residency + reload A) of A's requests, so B
    // waits (at most max_wait), serving A meanwhile.
    std::vector<model_spec> ms{make_model("a", 6000), make_model("b", 6000)};
    rig r({}, {gpu(8000)}, ms);
    load_via_request(r, A, 1);
    request_id q = 100;
    for (int i = 0; i < 60; ++i) {  // a minute of steady A traffic
        r.advance(1s);
        r.arrive(q, A);
        r.finish(q++);
    }
    r.arrive(2, B);
    const time_point arrived = r.now();
    std::vector<action> acts;
    time_point evicted_at{};
    for (int i = 0; i < 12 && evicted_at == time_point{}; ++i) {
        for (auto& a : r.run_for(1s)) acts.push_back(a);
        if (unloads(acts, A)) evicted_at = r.now();
        r.arrive(q, A);
        if (r.state(A) == model_state::loaded) r.finish(q);
        ++q;
    }
    ASSERT_NE(evicted_at, time_point{}) << dump(acts);
    EXPECT_GT(evicted_at - arrived, 3s);   // not at the first window
    EXPECT_LE(evicted_at - arrived, 11s);  // max_wait bounds it
}

TEST(SchedulerEvict, AnIdleModelWithinItsResidencyLeavesInPlaceOfABusyOne) {
    // Room for two. A is busy, asked for every second (1 s each) and past its
    // residency; C was loaded a moment ago for one request, served it and is
    // idle. B's one request is not worth draining A for (A would be asked for
    // again while it drains) nor C (a single request served). Once past
    // max_wait, residency lets A go; C, having done what it was loaded for,
    // leaves in its place instead.
    scheduler_settings st;
    st.max_wait = 2s;
    std::vector<model_spec> ms{make_model("a", 4000), make_model("b", 4000), make_model("c", 4000)};
    rig r(st, {gpu(9000)}, ms);
    load_via_request(r, A, 1);
    for (request_id q = 10; q < 16; ++q) {
        EXPECT_TRUE(dispatched(r.arrive(q, A), q));
        r.advance(1s);
        r.finish(q);
    }
    EXPECT_TRUE(dispatched(r.arrive(2, A), 2));  // A stays busy
    load_via_request(r, C, 3);
    const time_point c_loaded = r.now();
    r.arrive(4, B);
    auto acts = r.run_for(1900ms);
    EXPECT_TRUE(acts.empty()) << "an optional swap takes neither busy A nor C (1 request) early: " << dump(acts);
    acts = r.run_for(200ms);
    const action* u = find(acts, action::unload, C);
    ASSERT_TRUE(u) << dump(acts) << to_string(r.state(A));
    EXPECT_EQ(u->reason, "max_wait");
    EXPECT_LT(r.now() - c_loaded, r.s().view(C).min_residency);
    EXPECT_EQ(r.state(A), model_state::loaded);
    EXPECT_TRUE(loads(r.unloaded(C), B));
}

TEST(SchedulerEvict, AForcedSwapDoesNotMakeRoomThatResidencyDenies) {
    // Room for one; A served its request and is idle, within its residency.
    // B's request passes max_wait: nothing else could leave, so A keeps its
    // residency (the thrash guard when every swap is forced).
    scheduler_settings st;
    st.max_wait = 1s;
    auto r = one_at_a_time({}, st);
    load_via_request(r, A, 1);
    const time_point loaded_at = r.now();
    r.arrive(2, B);
    auto acts = r.run_for(loaded_at + r.s().view(A).min_residency - r.now() - 1ms);
    EXPECT_TRUE(acts.empty()) << dump(acts);
    acts = r.run_for(1ms);
    ASSERT_TRUE(unloads(acts, A)) << dump(acts);
    EXPECT_EQ(find(acts, action::unload, A)->reason, "max_wait");
}

TEST(SchedulerEvict, AnIdleModelThatServedTwoLeavesEarlyForASwapThatPays) {
    // Room for one; A served two requests and is idle within its residency.
    // Three requests for B: the swap pays, so A leaves now (make_room). After
    // one request only, A keeps its residency: an early exit never turns a
    // load into one that served a single request.
    for (int served : {1, 2}) {
        auto r = one_at_a_time();
        load_via_request(r, A, 1);
        const time_point loaded_at = r.now();
        if (served == 2) {
            EXPECT_TRUE(dispatched(r.arrive(2, A), 2));
            r.finish(2);
        }
        for (request_id q = 10; q < 13; ++q) r.arrive(q, B);
        auto acts = r.run_for(100ms);
        if (served == 2) {
            ASSERT_TRUE(unloads(acts, A)) << dump(acts);
            EXPECT_EQ(find(acts, action::unload, A)->reason, "make_room");
            EXPECT_LT(r.now() - loaded_at, r.s().view(A).min_residency);
        } else {
            EXPECT_TRUE(acts.empty()) << dump(acts);
            acts = r.run_for(loaded_at + r.s().view(A).min_residency - r.now());
            EXPECT_TRUE(unloads(acts, A)) << dump(acts);
        }
    }
}

TEST(SchedulerEvict, AnOptionalSwapDoesNotDrainAModelAboutToBeAskedForAgain) {
    // Room for one. A is past its residency, asked for every second, each
    // request taking 2 s: draining it would make its next requests wait a
    // whole turn. B's swap (many waiters) happens once A is idle instead.
    auto r = one_at_a_time();
    load_via_request(r, A, 1);
    request_id q = 10;
    for (int i = 0; i < 8; ++i) {  // two requests running at a time
        EXPECT_TRUE(dispatched(r.arrive(q, A), q));
        r.advance(1s);
        if (i > 0) r.finish(q - 1);
        ++q;
    }
    for (request_id b = 100; b < 108; ++b) r.arrive(b, B);
    auto acts = r.run_for(100ms);
    EXPECT_TRUE(acts.empty()) << dump(acts);
    EXPECT_EQ(r.state(A), model_state::loaded) << "not drained";
    r.advance(900ms);
    acts = r.finish(q - 1);  // A is idle: the swap is due (a decision was waiting)
    for (auto& a : r.run_for(100ms)) acts.push_back(a);
    ASSERT_TRUE(unloads(acts, A)) << dump(acts);
    EXPECT_EQ(find(acts, action::unload, A)->reason, "make_room");

    // A model that served its requests quickly and is not asked for often
    // is drained as before (the swap pays, its running request finishes).
    auto r2 = one_at_a_time();
    load_via_request(r2, A, 1);
    EXPECT_TRUE(dispatched(r2.arrive(2, A), 2));
    r2.advance(60s);
    r2.arrive(3, B);
    r2.run_for(100ms);
    EXPECT_EQ(r2.state(A), model_state::draining);
}

TEST(SchedulerEvict, VictimsAreRankedByTheirDemandWhileAway) {
    // X reloads in 1 s and is asked for often; Y reloads in 20 s and was asked
    // for once. Z needs one of the two rooms. Ranking by rate x reload cost
    // would evict the hot X (cheap to reload); ranked by the requests each
    // would miss while away (Z's load and residency, then its own reload), Y goes.
    std::vector<model_spec> ms{make_model("x", 3000), make_model("y", 3000), make_model("z", 3000)};
    rig r({}, {gpu(8000)}, ms);
    load_via_request(r, A, 1, 1s);
    for (request_id q = 2; q < 6; ++q) {
        r.advance(200ms);
        EXPECT_TRUE(dispatched(r.arrive(q, A), q));
        r.finish(q);
    }
    load_via_request(r, B, 10, 20s);
    r.advance(21s);  // both idle and past their residency
    r.arrive(20, C);
    auto acts = r.run_for(100ms);
    EXPECT_TRUE(unloads(acts, B)) << dump(acts);
    EXPECT_FALSE(unloads(acts, A)) << dump(acts);
}

TEST(SchedulerLearningRates, TheRecentRateIsCorrectForHowLongItWasObserved) {
    // Six requests in the first 30 s: 12 per minute, not the 3.7 a decayed
    // count with a 60 s half-life would say before it has settled.
    rig r({}, {gpu(8000)}, {make_model("a", 1000)});
    for (request_id q = 0; q < 6; ++q) {
        r.arrive(q, A);
        r.cancel(q);
        r.advance(5s);
    }
    r.tick();  // 30 s after the first request
    const double per_min = r.s().view(A).recent_rate_per_min;
    EXPECT_GT(per_min, 11.0);
    EXPECT_LT(per_min, 13.0);
}

TEST(SchedulerEvict, TtlUnloadsIdleModelsButNotPinnedOrTtlZero) {
    auto a = make_model("a", 2000), b = make_model("b", 2000), p = make_model("p", 2000);
    a.ttl = 60s;
    b.ttl = 0s;
    p.ttl = 1s;
    p.pinned = true;
    scheduler_settings st;
    st.max_loaded_global = 3;
    rig r(st, {gpu(8000, 3)}, {a, b, p});
    load_via_request(r, A, 1);
    load_via_request(r, B, 2);
    load_via_request(r, C, 3);
    EXPECT_TRUE(dispatched(r.arrive(4, A), 4));
    r.advance(120s);  // busy: no ttl
    EXPECT_TRUE(r.tick().empty());
    r.finish(4);
    auto acts = r.run_for(59s);
    EXPECT_TRUE(acts.empty()) << dump(acts);
    acts = r.run_for(1s);
    ASSERT_TRUE(unloads(acts, A)) << dump(acts);
    EXPECT_EQ(find(acts, action::unload, A)->reason, "ttl");
    acts = r.run_for(3600s);
    EXPECT_TRUE(acts.empty()) << dump(acts);
    EXPECT_EQ(r.state(B), model_state::loaded);
    EXPECT_EQ(r.state(C), model_state::loaded);
}

TEST(SchedulerEvict, PinnedModelsAreNeverVictims) {
    auto p = make_model("p", 3000);
    p.pinned = true;
    std::vector<model_spec> ms{p, make_model("a", 3000), make_model("b", 3000)};
    rig r({}, {gpu(8000)}, ms);
    load_via_request(r, 0, 1);
    r.advance(1s);
    load_via_request(r, 1, 2);
    r.advance(60s);
    r.arrive(3, 2);  // needs a victim (memory and max_loaded); p is the LRU but pinned
    auto acts = r.run_for(100ms);
    EXPECT_TRUE(unloads(acts, 1)) << dump(acts);
    EXPECT_FALSE(unloads(acts, 0));
    EXPECT_NE(r.s().request_unload(r.now(), 0), "");
}

TEST(SchedulerEvict, PreloadLoadsAtStartPinnedFirstAsFarAsTheyFit) {
    auto a = make_model("a", 4000), p = make_model("p", 4000), c = make_model("c", 4000);
    a.preload = p.preload = c.preload = true;
    p.pinned = true;
    rig r({}, {gpu(8000)}, {a, p, c});
    auto acts = r.start();
    ASSERT_EQ(count(acts, action::load), 2) << dump(acts);
    EXPECT_EQ(acts[0].model, 1u);
    EXPECT_EQ(acts[1].model, 0u);
    EXPECT_EQ(r.state(2), model_state::unloaded);
    // A preloaded model stays even though nobody waits for it.
    r.advance(5s);
    r.loaded(0);
    r.loaded(1);
    EXPECT_EQ(r.state(0), model_state::loaded);
}

TEST(SchedulerEvict, StaticModelsAreAlwaysResidentAndTheirMemoryCounts) {
    auto s = make_model("remote", 2000, lifecycle::static_server);
    s.slots = 1;
    std::vector<model_spec> ms{make_model("a", 6000), make_model("b", 6000), s};
    rig r({}, {gpu(8000)}, ms);
    EXPECT_TRUE(r.start().empty());
    EXPECT_TRUE(dispatched(r.arrive(1, 2), 1));
    EXPECT_TRUE(r.arrive(2, 2).empty());  // one slot
    EXPECT_TRUE(dispatched(r.finish(1), 2));
    load_via_request(r, A, 3);
    EXPECT_EQ(r.s().resident_mb(0), 8000);
    r.advance(10s);
    r.arrive(4, B);  // 6000 + 6000 + 2000 > 8000: A must go, the static one stays
    auto acts = r.run_for(100ms);
    EXPECT_TRUE(unloads(acts, A)) << dump(acts);
    EXPECT_FALSE(unloads(acts, 2));
    EXPECT_NE(r.s().request_unload(r.now(), 2), "");
    EXPECT_NE(r.s().request_load(r.now(), 2, true), "");
}

TEST(SchedulerEvict, VllmSleepUnloadsToSleepAndWakesWithTheLearnedWakeCost) {
    auto v = make_model("v", 6000, lifecycle::vllm_sleep);
    v.initial_load_cost = 20s;
    std::vector<model_spec> ms{v, make_model("a", 6000)};
    rig r({}, {gpu(8000)}, ms);
    EXPECT_EQ(r.s().view(0).wake_cost, 4s);  // prior: cold / 5
    load_via_request(r, 0, 1, 18s);
    EXPECT_EQ(r.s().view(0).cold_cost, 18s);
    EXPECT_EQ(r.s().view(0).min_residency, 5s);  // max(5 s, wake cost 4 s)
    r.advance(10s);
    r.arrive(2, 1);
    auto acts = r.run_for(100ms);
    const action* u = find(acts, action::unload, 0);
    ASSERT_TRUE(u) << dump(acts);
    EXPECT_EQ(u->sleep_level, 1);
    r.unloaded(0);
    EXPECT_EQ(r.state(0), model_state::sleeping);
    EXPECT_EQ(r.s().resident_mb(0), 6000);  // only the loading "a"
    r.advance(2s);
    r.loaded(1);
    r.finish(2);
    r.advance(10s);
    r.arrive(3, 0);
    EXPECT_EQ(r.s().view(0).reload_cost, 4s);
    EXPECT_EQ(r.s().view(0).max_wait, 10s);
    acts = r.run_for(100ms);
    ASSERT_TRUE(unloads(acts, 1)) << dump(acts);
    EXPECT_EQ(find(acts, action::unload, 1)->sleep_level, 0);
    acts = r.unloaded(1);
    const action* l = find(acts, action::load, 0);
    ASSERT_TRUE(l) << dump(acts);
    EXPECT_TRUE(l->wake);
    r.advance(1500ms);
    EXPECT_TRUE(dispatched(r.loaded(0), 3));
    const auto view = r.s().view(0);
    EXPECT_EQ(view.wake_cost, 1500ms);
    EXPECT_EQ(view.cold_cost, 18s);
    EXPECT_EQ(view.wake_count, 1);
    EXPECT_EQ(view.load_count, 2);
    EXPECT_EQ(r.s().counters().wakes, 1u);
    // A crash loses the sleeping state: the next load is cold.
    r.crashed(0);
    acts = r.arrive_decided(4, 0);
    ASSERT_TRUE(loads(acts, 0)) << dump(acts);
    EXPECT_FALSE(find(acts, action::load, 0)->wake);
}

TEST(SchedulerEvict, ObservedMemoryReplacesTheEstimate) {
    scheduler_settings st;
    st.max_loaded_global = 3;
    std::vector<model_spec> ms{make_model("a", 6000), make_model("b", 4000), make_model("c", 3000)};
    rig r(st, {gpu(8000, 3)}, ms);
    r.arrive(1, A);
    r.run_for(100ms);
    r.loaded(A, 3500);  // smaller than declared
    r.finish(1);
    EXPECT_EQ(r.s().view(A).memory_mb, 3500);
    EXPECT_EQ(r.s().view(A).memory_estimated_mb, 6000);
    auto acts = r.arrive_decided(2, B);  // 3500 + 4000 fits now
    EXPECT_TRUE(loads(acts, B)) << dump(acts);
    EXPECT_FALSE(unloads(acts, A));
    // B turns out larger: 3500 + 5000 > 8000, the accounting is restored by evicting A.
    acts = r.loaded(B, 5000);
    const action* u = find(acts, action::unload, A);
    ASSERT_TRUE(u) << dump(acts);
    EXPECT_EQ(u->reason, "over_budget");
}

TEST(SchedulerEvict, MaxLoadedPerDeviceAndGlobal) {
    scheduler_settings st;
    st.max_loaded_global = 2;
    std::vector<model_spec> ms{make_model("a", 100), make_model("b", 100), make_model("c", 100, lifecycle::process, "gpu1"),
                               make_model("d", 100, lifecycle::process, "gpu1")};
    rig r(st, {gpu(8000, 1), gpu(8000, 2, "gpu1")}, ms);
    load_via_request(r, A, 1);
    r.advance(10s);
    r.arrive(2, B);  // gpu0 holds one model at a time, despite the memory
    auto acts = r.run_for(100ms);
    EXPECT_TRUE(unloads(acts, A)) << dump(acts);
    r.unloaded(A);
    r.loaded(B);
    r.finish(2);
    load_via_request(r, C, 3);
    r.advance(10s);
    r.arrive(4, D);  // the global limit of 2: one of B, C must go (B is the LRU)
    acts = r.run_for(100ms);
    EXPECT_TRUE(unloads(acts, B)) << dump(acts);
    EXPECT_FALSE(loads(acts, D));
    EXPECT_TRUE(loads(r.unloaded(B), D));
}

}  // namespace
}  // namespace swapgate::routing::test
