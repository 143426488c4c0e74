// Routing with managed models: wait for a local load or go remote, and the
// scheduler's refusals (a failed load, a full queue) as fallback triggers.
#include "routing_helpers.hpp"

namespace swapgate::test {
namespace {

// ---- 10. wait for a local load or go remote --------------------------------------------------

std::string wait_or_remote_yaml(const swap::marker_guard& mk, int sim_port, const std::string& max_local_wait) {
    return managed_local_then_hosted(swap::sim_command(mk.marker, "local", "load_ms=3000"), sim_port,
                                     "load_cost: 5s\nmax_local_wait: " + max_local_wait);
}

TEST(Routing, ALongLocalLoadGoesRemoteInstead) {
    swap::marker_guard mk;
    auto sim = start_sim();
    swap::gate g(wait_or_remote_yaml(mk, sim->port(), "1s"));
    auto r = g.chat("local");
    ASSERT_EQ(r.status, 200) << r.body << "\n" << g.log_tail();
    auto route = route_of(r);
    EXPECT_TRUE(has(route, "skipped=local:remote-instead-of-wait=")) << route;
    EXPECT_TRUE(has(route, "served_by=hosted")) << route;
    EXPECT_EQ(sim_requests(sim->port()), 1);
    auto m = g.metrics();
    EXPECT_EQ(metric_value(m, R"(swapgate_remote_instead_of_wait_total{model="local"})"), 1) << m;
    EXPECT_EQ(metric_value(m, R"(swapgate_fallbacks_total{model="local",trigger="remote_instead_of_wait"})"), 1) << m;
}

TEST(Routing, AShortEnoughLocalLoadIsWaitedFor) {
    swap::marker_guard mk;
    auto sim = start_sim();
    swap::gate g(wait_or_remote_yaml(mk, sim->port(), "60s"));
    auto r = g.chat("local", "", false, 20s);
    ASSERT_EQ(r.status, 200) << r.body << "\n" << g.log_tail();
    EXPECT_EQ(route_of(r), "model=local; rule=name");
    EXPECT_EQ(sim_requests(sim->port()), 0);
    auto srv = mk.server("local");
    ASSERT_TRUE(srv) << "no local model server";
    EXPECT_EQ(sim_stats(swap::port_of(*srv)).value("requests", -1), 1);
    EXPECT_EQ(g.state("local"), "loaded");
    auto m = g.metrics();
    EXPECT_LE(metric_value(m, R"(swapgate_remote_instead_of_wait_total{model="local"})"), 0) << m;
}

TEST(Routing, ARemoteHopSlowerThanTheLocalWaitIsNotTaken) {
    swap::marker_guard mk;
    auto sim = start_sim();
    // The local model's expected wait (~2 s: window + load_cost) is above its
    // max_local_wait (1 s)...
    swap::gate g(managed_local_then_hosted(swap::sim_command(mk.marker, "local", "load_ms=1500"), sim->port(),
                                           "load_cost: 2s\nmax_local_wait: 1s"));
    // ...but the hosted API has just taken 3.5 s to its first byte.
    auto slow = g.chat("hosted", R"("sim":{"first_byte_delay_ms":3500})", false, 20s);
    ASSERT_EQ(slow.status, 200) << slow.body;
    auto r = g.chat("local", "", false, 20s);
    ASSERT_EQ(r.status, 200) << r.body << "\n" << g.log_tail();
    EXPECT_EQ(route_of(r), "model=local; rule=name") << "went remote although the remote hop is slower";
    EXPECT_EQ(sim_requests(sim->port()), 1);
    EXPECT_EQ(g.state("local"), "loaded");
}

// An open breaker whose cooldown passed lets one probe through; when that hop
// is then skipped to go remote instead of waiting for a load, the probe was never
// sent, and the breaker must not stay waiting for its outcome forever. Two
// models share one backend (and so one breaker): `o`, managed by the ollama
// driver and not loaded, and `direct`, not managed.
TEST(Routing, AProbeSkippedForARemoteHopDoesNotWedgeTheBreaker) {
    auto sim = start_sim({"--model", "o,loaded=0,load_ms=200,memory_mb=3000", "--model", "direct,loaded=1,memory_mb=1000"});
    scripted_upstream hosted;
    hosted.push(ok_reply("hosted"));
    swap::gate g(swap::devices_yaml(8000) + swap::scheduler_yaml() + "backends:\n" + backend("shared", url_of(sim->port())) +
                 backend("hostedb", url_of(hosted.port())) +
                 "models:\n"
                 "  - {name: o, driver: ollama, backend: shared, memory_mb: 3000, load_cost: 5s, min_residency: 0s,\n"
                 "     max_local_wait: 1s, fallback: [hosted]}\n"
                 "  - {name: direct, backend: shared, fallback: [hosted]}\n"
                 "  - {name: hosted, backend: hostedb}\n"
                 "routing:\n  fallback: {breaker_failures: 1, breaker_cooldown: 1s}\n");
    const std::string state = R"(swapgate_breaker_state{backend="shared"})";

    // A 500 from the shared backend opens its breaker (breaker_failures: 1).
    auto r1 = g.chat("direct", R"("sim":{"status":500})");
    EXPECT_EQ(r1.status, 200) << r1.body;
    EXPECT_TRUE(has(route_of(r1), "failed=direct:status_5xx; served_by=hosted")) << route_of(r1);
    EXPECT_EQ(metric_value(g.metrics(), state), 2);

    // Past the cooldown the breaker lets a probe through for `o`, which is then
    // skipped: its load (5 s) exceeds max_local_wait (1 s).
    std::this_thread::sleep_for(1100ms);
    auto r2 = g.chat("o");
    EXPECT_EQ(r2.status, 200) << r2.body;
    EXPECT_TRUE(has(route_of(r2), "skipped=o:remote-instead-of-wait=")) << route_of(r2);
    EXPECT_EQ(sim_stats(sim->port()).value("requests", -1), 1);

    // Past another cooldown the backend must get its probe (and, answered, close).
    std::this_thread::sleep_for(1100ms);
    auto r3 = g.chat("direct");
    EXPECT_EQ(r3.status, 200) << r3.body;
    EXPECT_EQ(route_of(r3), "model=direct; rule=name") << "the breaker never let a probe through again";
    EXPECT_TRUE(eventually([&] { return metric_value(g.metrics(), state) == 0; }, 2s))
        << "0 closed, 1 half-open, 2 open: " << metric_value(g.metrics(), state);
}

// ---- scheduler triggers: a failed load, a full queue

TEST(Routing, AModelThatCannotBeLoadedFallsOver) {
    auto sim = start_sim();
    swap::gate g(managed_local_then_hosted("sh -c 'echo no model file; exit 3'", sim->port(), "load_cost: 1s"));
    auto r = g.chat("local");
    ASSERT_EQ(r.status, 200) << r.body << "\n" << g.log_tail();
    EXPECT_TRUE(has(route_of(r), "failed=local:model_unavailable; served_by=hosted")) << route_of(r);
    EXPECT_EQ(sim_requests(sim->port()), 1);
}

TEST(Routing, AFullQueueFallsOver) {
    swap::marker_guard mk;
    auto sim = start_sim();
    swap::gate g(managed_local_then_hosted(swap::sim_command(mk.marker, "local", "load_ms=3000"), sim->port(),
                                           "max_queue: 1\nmax_local_wait: 60s"));
    // The first request queues for the load and fills the queue...
    auto first = std::async(std::launch::async, [&] { return g.chat("local", "", false, 20s); });
    ASSERT_TRUE(g.wait_status([](const json& s) { return swap::gate::entry(s, "local").value("queued", 0) == 1; }, 5s))
        << g.status().dump(2);
    // ...so the second goes to the next hop at once.
    auto r = g.chat("local");
    ASSERT_EQ(r.status, 200) << r.body << "\n" << g.log_tail();
    EXPECT_TRUE(has(route_of(r), "failed=local:queue_full; served_by=hosted")) << route_of(r);
    auto r1 = first.get();
    EXPECT_EQ(r1.status, 200) << r1.body;
    EXPECT_EQ(route_of(r1), "model=local; rule=name");
    EXPECT_EQ(sim_requests(sim->port()), 1);
}

}  // namespace
}  // namespace swapgate::test
