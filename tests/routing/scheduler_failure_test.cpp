// Failures and admin: failed loads with backoff, crashes, late or duplicate
// events, the admin commands and the wait estimate.
#include "scheduler_harness.hpp"

namespace swapgate::routing::test {
namespace {

constexpr model_id A = 0, B = 1;

rig two(scheduler_settings st = {}) {
    return rig(st, {gpu(8000)}, {make_model("a", 6000), make_model("b", 6000)});
}

TEST(SchedulerFailure, AFailedLoadRejectsItsWaitersAndBacksOffThenLoadsAgain) {
    auto r = two();
    r.arrive(1, A);
    r.arrive(2, A);
    r.run_for(100ms);
    r.advance(2s);
    auto acts = r.load_failed(A, "out of memory");
    ASSERT_EQ(count(acts, action::reject), 2) << dump(acts);
    for (const auto& a : acts) {
        EXPECT_EQ(a.status, 503);
        EXPECT_NE(a.reason.find("out of memory"), std::string::npos);
        EXPECT_NE(a.reason.find("'a'"), std::string::npos);
        EXPECT_EQ(a.retry_after, 2s);
    }
    EXPECT_EQ(r.state(A), model_state::failed);
    EXPECT_EQ(r.s().view(A).last_error, "out of memory");
    // During the backoff a new request is rejected at once.
    r.advance(1s);
    acts = r.arrive(3, A);
    ASSERT_TRUE(find(acts, action::reject, A, 3));
    EXPECT_EQ(acts[0].status, 503);
    EXPECT_EQ(acts[0].retry_after, 1s);
    // The failed model held no memory: B loads meanwhile without evicting anything.
    acts = r.arrive(4, B);
    EXPECT_TRUE(loads(acts, B)) << dump(acts);  // at once: it fits in free room
    EXPECT_EQ(count(acts, action::unload), 0);
    r.loaded(B);
    r.finish(4);
    // After the backoff a request loads it again (B makes room after its residency).
    r.advance(10s);
    r.arrive(5, A);
    acts = r.run_for(100ms);
    ASSERT_TRUE(unloads(acts, B)) << dump(acts);
    acts = r.unloaded(B);
    ASSERT_TRUE(loads(acts, A)) << dump(acts);
    // A second failure doubles the backoff; success resets it.
    acts = r.load_failed(A);
    ASSERT_TRUE(find(acts, action::reject, A, 5));
    EXPECT_EQ(acts[0].retry_after, 4s);
    EXPECT_EQ(r.s().view(A).consecutive_failures, 2);
    r.advance(4s);
    r.arrive(6, A);
    r.run_for(100ms);
    r.loaded(A);
    EXPECT_EQ(r.s().view(A).consecutive_failures, 0);
    EXPECT_EQ(r.s().counters().load_failures, 2u);
}

TEST(SchedulerFailure, ACrashFailsRunningRequestsAndTheModelLoadsAgainOnDemand) {
    auto r = two();
    r.arrive(1, A);
    r.run_for(100ms);
    r.loaded(A);
    r.arrive(2, A);
    auto acts = r.crashed(A, "signal 9");
    ASSERT_EQ(count(acts, action::fail_request), 2) << dump(acts);
    EXPECT_NE(acts[0].reason.find("crashed"), std::string::npos);
    EXPECT_EQ(r.state(A), model_state::unloaded);
    EXPECT_EQ(r.s().resident_mb(0), 0);
    EXPECT_TRUE(r.finish(1).empty());  // late finish: ignored
    acts = r.arrive(3, A);
    EXPECT_TRUE(loads(acts, A)) << dump(acts);  // no backoff after a crash; the room is free
    EXPECT_EQ(r.s().counters().crashes, 1u);
    EXPECT_EQ(r.s().counters().evictions.at("crash"), 1u);
}

TEST(SchedulerFailure, ACrashWhileLoadingIsAFailedLoad) {
    auto r = two();
    r.arrive(1, A);
    r.run_for(100ms);
    auto acts = r.crashed(A, "exit 1");
    ASSERT_TRUE(find(acts, action::reject, A, 1)) << dump(acts);
    EXPECT_EQ(r.state(A), model_state::failed);
}

TEST(SchedulerFailure, AVllmServerThatDiesAsleepIsUnloadedAndLoadsCold) {
    // v is a vllm-sleep model; unloading it puts it to sleep. Its server dies
    // asleep: the model is unloaded (not sleeping), the crash counts, and the
    // next load is cold, learned as a cold load.
    auto v = make_model("v", 6000, lifecycle::vllm_sleep);
    rig r({}, {gpu(8000)}, {v, make_model("b", 6000)});
    ASSERT_TRUE(loads(r.arrive(1, A), A));  // at once: the room is free
    r.advance(4s);
    r.loaded(A);
    r.finish(1);
    ASSERT_EQ(r.s().request_unload(r.now(), A), "");
    auto acts = r.s().take_actions();
    ASSERT_TRUE(unloads(acts, A)) << dump(acts);
    EXPECT_EQ(find(acts, action::unload, A)->sleep_level, 1);
    r.unloaded(A);
    ASSERT_EQ(r.state(A), model_state::sleeping);
    const auto ignored = r.s().counters().ignored_events;
    acts = r.crashed(A, "killed while asleep");
    EXPECT_TRUE(acts.empty()) << dump(acts);
    EXPECT_EQ(r.state(A), model_state::unloaded);
    EXPECT_EQ(r.s().counters().crashes, 1u);
    EXPECT_EQ(r.s().counters().ignored_events, ignored);
    EXPECT_EQ(r.s().view(A).reload_cost, r.s().view(A).cold_cost);
    acts = r.arrive_decided(2, A);
    const action* l = find(acts, action::load, A);
    ASSERT_TRUE(l) << dump(acts);
    EXPECT_FALSE(l->wake) << "nothing is left to wake";
    r.advance(3s);
    EXPECT_TRUE(dispatched(r.loaded(A), 2));
    EXPECT_EQ(r.s().view(A).wake_count, 0);
    EXPECT_EQ(r.s().view(A).cold_cost, 3700ms);  // 4 s + 0.3 x (3 s - 4 s): learned as a cold load
    EXPECT_EQ(r.s().view(A).wake_cost, 1s);      // the wake prior, untouched
    // A crash of a model that has no server at all is a stray event.
    EXPECT_TRUE(r.crashed(B).empty());
    EXPECT_EQ(r.s().counters().crashes, 1u);
    EXPECT_EQ(r.s().counters().ignored_events, ignored + 1);
}

TEST(SchedulerFailure, AVllmServerThatDiesAsleepWhileChosenToWakeLoadsCold) {
    // v sleeps; b is loaded and busy. A request for v makes b a draining
    // victim and v pending (a wake). v's server dies meanwhile: the
    // reservation stands, the load it starts is cold.
    auto v = make_model("v", 6000, lifecycle::vllm_sleep);
    rig r({}, {gpu(8000)}, {v, make_model("b", 6000)});
    r.arrive(1, A);
    r.run_for(100ms);
    r.advance(4s);
    r.loaded(A);
    r.finish(1);
    r.advance(10s);
    r.arrive(2, B);
    r.run_for(100ms);
    r.unloaded(A);
    ASSERT_EQ(r.state(A), model_state::sleeping);
    r.advance(4s);
    r.loaded(B);
    ASSERT_EQ(r.state(B), model_state::loaded);
    r.advance(30s);
    EXPECT_TRUE(dispatched(r.arrive(3, B), 3));
    r.arrive(4, A);
    r.run_for(100ms);
    ASSERT_EQ(r.state(A), model_state::pending);
    ASSERT_EQ(r.state(B), model_state::draining);
    EXPECT_TRUE(r.crashed(A).empty());
    EXPECT_EQ(r.state(A), model_state::pending);
    EXPECT_EQ(r.s().counters().crashes, 1u);
    r.finish(2);
    r.finish(3);
    auto acts = r.unloaded(B);
    const action* l = find(acts, action::load, A);
    ASSERT_TRUE(l) << dump(acts);
    EXPECT_FALSE(l->wake);
}

TEST(SchedulerFailure, ACrashedVictimCountsAsUnloaded) {
    auto r = two();
    r.arrive(1, A);
    r.run_for(100ms);
    r.loaded(A);
    r.advance(60s);
    r.arrive(2, B);
    r.run_for(100ms);
    ASSERT_EQ(r.state(A), model_state::draining);
    auto acts = r.crashed(A);
    EXPECT_TRUE(find(acts, action::fail_request, A, 1));
    EXPECT_TRUE(loads(acts, B)) << dump(acts);
}

TEST(SchedulerFailure, LateAndDuplicateEventsAreIgnored) {
    auto r = two();
    EXPECT_TRUE(r.loaded(A).empty());
    EXPECT_TRUE(r.unloaded(A).empty());
    EXPECT_TRUE(r.load_failed(A).empty());
    EXPECT_TRUE(r.crashed(A).empty());
    EXPECT_TRUE(r.finish(42).empty());
    r.arrive(1, A);
    r.run_for(100ms);
    EXPECT_FALSE(r.loaded(A).empty());
    EXPECT_TRUE(r.loaded(A).empty());
    EXPECT_EQ(r.s().counters().ignored_events, 6u);
    EXPECT_EQ(r.s().counters().loads, 1u);
}

TEST(SchedulerFailure, TimeNeverGoesBackwards) {
    // b needs a's room: that decision waits for the window.
    auto r = two();
    ASSERT_TRUE(loads(r.arrive(1, A), A));
    r.advance(1s);
    r.loaded(A);
    r.finish(1);
    r.advance(10s);  // past a's minimum residency
    EXPECT_TRUE(r.arrive(2, B).empty());
    r.s().tick(r.now() - 1h);  // an older time is read as the latest seen
    EXPECT_TRUE(r.s().take_actions().empty());
    EXPECT_TRUE(unloads(r.run_for(30s), A));
}

TEST(SchedulerAdmin, RequestLoadEvictsAsNeededAndForceSkipsResidency) {
    auto r = two();
    EXPECT_EQ(r.s().request_load(r.now(), A, false), "");
    auto acts = r.s().take_actions();
    ASSERT_TRUE(loads(acts, A)) << dump(acts);
    r.loaded(A);
    EXPECT_EQ(r.s().request_load(r.now(), A, false), "");  // already there
    auto answer = r.s().can_load(r.now(), B);
    EXPECT_FALSE(answer.fits_now);
    EXPECT_TRUE(answer.would_evict.empty());
    EXPECT_NE(answer.why_not.find("minimum residency"), std::string::npos) << answer.why_not;
    EXPECT_NE(r.s().request_load(r.now(), B, false), "");
    EXPECT_EQ(r.s().request_load(r.now(), B, true), "");
    acts = r.s().take_actions();
    const action* u = find(acts, action::unload, A);
    ASSERT_TRUE(u) << dump(acts);
    EXPECT_EQ(u->reason, "admin");
    EXPECT_TRUE(loads(r.unloaded(A), B));
    EXPECT_EQ(r.s().can_load(r.now(), B).why_not, "already loading");
    r.loaded(B);
    r.advance(10s);
    answer = r.s().can_load(r.now(), A);
    EXPECT_FALSE(answer.fits_now);
    ASSERT_EQ(answer.would_evict.size(), 1u);
    EXPECT_EQ(answer.would_evict[0], B);
}

TEST(SchedulerAdmin, RequestUnloadAndUnloadIdle) {
    scheduler_settings st;
    st.max_loaded_global = 3;
    rig r(st, {gpu(8000, 3)}, {make_model("a", 2000), make_model("b", 2000), make_model("c", 2000)});
    for (model_id m = 0; m < 3; ++m) r.s().request_load(r.now(), m, false);
    r.s().take_actions();
    for (model_id m = 0; m < 3; ++m) r.loaded(m);
    EXPECT_TRUE(dispatched(r.arrive(1, 0), 1));
    EXPECT_EQ(r.s().request_unload(r.now(), 1), "");
    auto acts = r.s().take_actions();
    EXPECT_TRUE(unloads(acts, 1));
    EXPECT_EQ(r.s().request_unload(r.now(), 1), "");  // already on its way
    EXPECT_TRUE(r.s().take_actions().empty());
    r.s().unload_idle(r.now());
    acts = r.s().take_actions();
    EXPECT_TRUE(unloads(acts, 2));
    EXPECT_FALSE(unloads(acts, 0));  // busy
    EXPECT_EQ(r.s().counters().evictions.at("admin"), 2u);
}

TEST(SchedulerAdmin, EstimatedWaitFollowsTheState) {
    auto r = two();
    EXPECT_EQ(r.s().estimated_wait(A, r.now()), 4s);  // free room: at once, then the prior cost
    r.arrive(1, A);
    r.advance(1s);
    EXPECT_EQ(r.s().estimated_wait(A, r.now()), 3s);  // 4 s load, 1 s in
    r.loaded(A);
    r.advance(2s);
    r.finish(1);
    EXPECT_EQ(r.s().estimated_wait(A, r.now()), 0ms);
}

TEST(SchedulerAdmin, EstimatedWaitCountsTheTimeUntilRoomIsMade) {
    // Room for one: b must wait for a's minimum residency (5 s) and drain, then load.
    auto r = two();
    r.arrive(1, A);
    r.run_for(100ms);
    r.advance(4s);
    r.loaded(A);  // request 1 runs on a
    const auto est = r.s().estimated_wait(B, r.now());
    EXPECT_GE(est, 5s + 4s) << "a's residency, then b's load";
    // What the scheduler then does: b's load starts no earlier than the estimate said.
    const auto t0 = r.now();
    r.arrive(2, B);
    std::optional<time_point> load_at;
    for (int i = 0; i < 400 && !load_at; ++i) {
        auto acts = r.run_for(50ms);
        if (i == 20) acts = r.finish(1);  // a's request ends after ~1 s
        if (unloads(acts, A)) acts = r.unloaded(A);
        if (loads(acts, B)) load_at = r.now();
    }
    ASSERT_TRUE(load_at);
    const auto actual = *load_at - t0 + 4s;  // until b is loaded
    EXPECT_LE(actual, est + 200ms) << "the estimate was optimistic";
    EXPECT_GE(actual, est - 2s) << "the estimate was far too pessimistic";
}

}  // namespace
}  // namespace swapgate::routing::test
