// The swap scheduler as wired into the proxy (issue 5): swapgate starts and
// stops real swapgate-sim model servers (driver process), or drives a sim
// through its Ollama or vLLM-sleep API, over real loopback. Every wait polls
// with a deadline; nothing asserts on speed beyond generous hang guards.
#include "swap_helpers.hpp"

#include <cstdio>
#include <sys/stat.h>
#include <sys/wait.h>

namespace swapgate::test::swap {
namespace {

// ---- 1. load on demand --------------------------------------------------------

TEST(Swap, FirstRequestStartsTheServerAndTheNextReusesIt) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=300"), 5000));
    auto before = g.model("a");
    EXPECT_EQ(before.value("state", ""), "unloaded");
    EXPECT_EQ(before.value("load_count", -1), 0);
    EXPECT_TRUE(mk.procs().empty()) << "a server runs before anyone asked for it";

    auto r = g.chat("a");
    ASSERT_EQ(r.status, 200) << r.body << "\n" << g.log_tail();
    EXPECT_FALSE(reply_text(r).empty()) << r.body;
    auto srv = mk.server("a");
    ASSERT_TRUE(srv) << "no model server process after the first request";
    auto m = g.model("a");
    EXPECT_EQ(m.value("state", ""), "loaded");
    EXPECT_EQ(m.value("load_count", -1), 1);
    // The slot is released when the session finishes with the exchange, which
    // can be a moment after the client has read the answer.
    EXPECT_TRUE(g.wait_status([](const json& s) { return gate::entry(s, "a").value("in_flight", -1) == 0; }, 2s))
        << g.status().dump(2);

    auto r2 = g.chat("a");
    ASSERT_EQ(r2.status, 200) << r2.body;
    auto srv2 = mk.server("a");
    ASSERT_TRUE(srv2);
    EXPECT_EQ(srv2->pid, srv->pid) << "the second request started a new server";
    EXPECT_EQ(mk.procs().size(), 1u);
    auto st = g.status();
    EXPECT_EQ(gate::entry(st, "a").value("load_count", -1), 1);
    EXPECT_EQ(st["counters"].value("loads", -1), 1);
    EXPECT_EQ(st["counters"].value("dispatches", -1), 2);
    // Both requests reached that one server.
    EXPECT_EQ(sim_stats(port_of(*srv)).value("requests", -1), 2);
    auto metrics = g.metrics();
    EXPECT_EQ(metric_value(metrics, R"(swapgate_model_state{model="a",state="loaded"})"), 1);
    EXPECT_EQ(metric_value(metrics, R"(swapgate_model_loads_total{model="a",kind="cold",outcome="ok"})"), 1);
    EXPECT_EQ(metric_value(metrics, R"(swapgate_device_memory_mb{device="gpu0",kind="resident"})"), 5000);
    EXPECT_EQ(metric_value(metrics, R"(swapgate_device_memory_mb{device="gpu0",kind="budget"})"), 8000);
    EXPECT_EQ(metric_value(metrics, R"(swapgate_queue_depth{model="a"})"), 0);
}

// ---- 2. all queued requests ride one load ---------------------------------------

TEST(Swap, ConcurrentRequestsForAnUnloadedModelShareOneLoad) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=500"), 5000));
    std::vector<std::unique_ptr<bg_request>> reqs;
    for (int i = 0; i < 8; ++i) reqs.push_back(std::make_unique<bg_request>(g.port(), chat_body("a", false)));
    for (auto& q : reqs) {
        const auto& r = q->get();
        EXPECT_EQ(r.status, 200) << r.body;
    }
    auto st = g.status();
    EXPECT_EQ(gate::entry(st, "a").value("load_count", -1), 1) << st.dump(2);
    EXPECT_EQ(st["counters"].value("loads", -1), 1);
    EXPECT_EQ(st["counters"].value("dispatches", -1), 8);
    EXPECT_EQ(mk.procs().size(), 1u);
}

// ---- 3. eviction under budget -----------------------------------------------------

TEST(Swap, EvictionUnloadsTheVictimBeforeTheNewcomerLoads) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=200"), 5000) +
           process_model("b", sim_command(mk.marker, "b", "load_ms=500"), 5000));
    ASSERT_EQ(g.chat("a").status, 200) << g.log_tail();
    auto srv_a = mk.server("a");
    ASSERT_TRUE(srv_a);
    const int port_a = port_of(*srv_a);
    ASSERT_GT(port_a, 0);

    bg_request rb(g.port(), chat_body("b", false));
    int samples = 0, mid_swap = 0;
    bool both_running = false;
    std::string violation;
    auto end = sclock::now() + 15s;
    while (sclock::now() < end) {
        auto st = g.status();
        ++samples;
        const auto& dev = st["devices"][0];
        if (dev.value("resident_mb", 0LL) > dev.value("budget_mb", 0LL) && violation.empty())
            violation = st.dump(2);
        std::string sa = gate::entry(st, "a").value("state", ""), sb = gate::entry(st, "b").value("state", "");
        if (resident_state(sa) && resident_state(sb) && violation.empty()) violation = st.dump(2);
        if (sb == "pending" || sb == "loading" || sa == "draining" || sa == "unloading") ++mid_swap;
        // The physical side: b's server is looked up first, then a's liveness, so
        // an overlap seen here is real (a's pid cannot come back).
        if (mk.server("b") && pid_alive(srv_a->pid)) both_running = true;
        if (rb.done() && sb == "loaded") break;
        std::this_thread::sleep_for(5ms);
    }
    const auto& r = rb.get();
    ASSERT_EQ(r.status, 200) << r.body << "\n" << g.log_tail();
    EXPECT_TRUE(violation.empty()) << "over budget or both resident mid-swap:\n" << violation;
    EXPECT_FALSE(both_running) << "a's server still ran while b's server existed";
    EXPECT_GT(mid_swap, 0) << "no sample caught the swap in progress (" << samples << " samples)";

    EXPECT_FALSE(pid_alive(srv_a->pid)) << "a's server survived its eviction";
    EXPECT_TRUE(port_refuses(port_a));
    auto st = g.status();
    EXPECT_EQ(gate::entry(st, "a").value("state", ""), "unloaded");
    EXPECT_EQ(gate::entry(st, "b").value("state", ""), "loaded");
    EXPECT_EQ(st["counters"].value("swaps", -1), 1);
    EXPECT_EQ(mk.procs().size(), 1u);
    EXPECT_EQ(metric_value(g.metrics(), R"(swapgate_model_unloads_total{model="a",reason="make_room"})"), 1);
}

// ---- 4. a resident model is served while another loads ------------------------------

TEST(Swap, ResidentModelIsServedWhileAnotherLoads) {
    marker_guard mk;
    gate g(devices_yaml(12000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=100"), 5000) +
           process_model("b", sim_command(mk.marker, "b", "load_ms=2000"), 5000));
    ASSERT_EQ(g.chat("a").status, 200) << g.log_tail();
    bg_request rb(g.port(), chat_body("b", false));
    ASSERT_TRUE(g.wait_state("b", "loading", 5s)) << g.status().dump(2);
    for (int i = 0; i < 3; ++i) {
        auto r = g.chat("a");
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(g.state("b"), "loading") << "request " << i << " to a waited for b's load";
    }
    EXPECT_FALSE(rb.done());
    EXPECT_EQ(rb.get().status, 200);
    EXPECT_EQ(g.model("a").value("load_count", -1), 1);
}

// ---- 5. ttl ---------------------------------------------------------------------------

TEST(Swap, IdleModelUnloadsAfterItsTtl) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=50"), 5000, "ttl: 1s"));
    ASSERT_EQ(g.chat("a").status, 200) << g.log_tail();
    auto srv = mk.server("a");
    ASSERT_TRUE(srv);
    ASSERT_TRUE(g.wait_state("a", "unloaded", 8s)) << g.status().dump(2);
    EXPECT_EQ(metric_value(g.metrics(), R"(swapgate_model_unloads_total{model="a",reason="ttl"})"), 1);
    EXPECT_TRUE(eventually([&] { return !pid_alive(srv->pid); }, 5s));
}

// ---- 6. pinned ---------------------------------------------------------------------------

TEST(Swap, PinnedModelIsNeverEvicted) {
    marker_guard mk;
    gate g(devices_yaml(10000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=50"), 4000, "pinned: true\npreload: true") +
           process_model("b", sim_command(mk.marker, "b", "load_ms=100"), 5000) +
           process_model("c", sim_command(mk.marker, "c", "load_ms=300"), 5000));
    ASSERT_TRUE(g.wait_state("a", "loaded", 8s)) << g.log_tail();
    auto srv_a = mk.server("a");
    ASSERT_TRUE(srv_a);
    ASSERT_EQ(g.chat("b").status, 200);
    bg_request rc(g.port(), chat_body("c", false));
    std::string a_left;
    auto end = sclock::now() + 15s;
    while (!rc.done() && sclock::now() < end) {
        auto st = g.status();
        auto sa = gate::entry(st, "a").value("state", "");
        if (sa != "loaded" && a_left.empty()) a_left = st.dump(2);
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(rc.get().status, 200);
    EXPECT_TRUE(a_left.empty()) << "the pinned model left:\n" << a_left;
    auto st = g.status();
    EXPECT_EQ(gate::entry(st, "a").value("state", ""), "loaded");
    EXPECT_EQ(gate::entry(st, "a").value("load_count", -1), 1);
    EXPECT_EQ(gate::entry(st, "b").value("state", ""), "unloaded");
    EXPECT_EQ(gate::entry(st, "c").value("state", ""), "loaded");
    EXPECT_TRUE(pid_alive(srv_a->pid));
}

// ---- 7. preload -------------------------------------------------------------------------

TEST(Swap, PreloadFromConfigAndEnvironmentLoadsWithoutRequests) {
    marker_guard mk;
    ::setenv("PRELOAD_MODELS", "b", 1);
    std::unique_ptr<gate> gp;
    try {
        gp = std::make_unique<gate>(devices_yaml(20000, 3) + scheduler_yaml("", 3) + "models:\n" +
                                    process_model("a", sim_command(mk.marker, "a", "load_ms=100"), 5000, "preload: true") +
                                    process_model("b", sim_command(mk.marker, "b", "load_ms=100"), 5000) +
                                    process_model("c", sim_command(mk.marker, "c", "load_ms=100"), 5000));
    } catch (...) {
        ::unsetenv("PRELOAD_MODELS");
        throw;
    }
    ::unsetenv("PRELOAD_MODELS");
    auto& g = *gp;
    ASSERT_TRUE(g.wait_status([](const json& s) {
        return gate::entry(s, "a").value("state", "") == "loaded" && gate::entry(s, "b").value("state", "") == "loaded";
    }, 8s)) << g.status().dump(2) << g.log_tail();
    auto st = g.status();
    EXPECT_EQ(gate::entry(st, "c").value("state", ""), "unloaded");
    EXPECT_EQ(st["counters"].value("dispatches", -1), 0);
    EXPECT_TRUE(mk.server("a"));
    EXPECT_TRUE(mk.server("b"));
    EXPECT_FALSE(mk.server("c"));
}

// ---- 8. the model server dies under a running request --------------------------------------

TEST(Swap, ServerCrashMidStreamEndsTheStreamWithAnErrorAndTheModelReloads) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=100"), 5000));
    ASSERT_EQ(g.chat("a").status, 200) << g.log_tail();
    auto srv = mk.server("a");
    ASSERT_TRUE(srv);

    http_client c(g.port(), 10s);
    c.send("POST", "/v1/chat/completions",
           chat_body("a", true, sim_field(R"({"tokens":40,"token_delay_ms":10,"exit_after_tokens":3})")));
    auto head = c.read_head();
    ASSERT_EQ(head.status, 200);
    auto events = c.read_sse_events();
    ASSERT_FALSE(events.empty());
    EXPECT_NE(events.back(), "[DONE]") << "a truncated stream ended as if complete";
    auto last = json::parse(events.back(), nullptr, false);
    ASSERT_TRUE(last.is_object() && last.contains("error")) << "last event: " << events.back();
    EXPECT_FALSE(last["error"].value("message", "").empty());
    EXPECT_LT(events.size(), 40u);

    ASSERT_TRUE(g.wait_state("a", "unloaded", 5s)) << g.status().dump(2);
    EXPECT_TRUE(eventually([&] { return !pid_alive(srv->pid); }, 2s));
    auto st = g.status();
    EXPECT_EQ(st["counters"].value("crashes", -1), 1) << st.dump(2);
    EXPECT_EQ(metric_value(g.metrics(), R"(swapgate_model_unloads_total{model="a",reason="crash"})"), 1);

    auto r = g.chat("a");
    ASSERT_EQ(r.status, 200) << r.body << "\n" << g.log_tail();
    auto srv2 = mk.server("a");
    ASSERT_TRUE(srv2);
    EXPECT_NE(srv2->pid, srv->pid);
    EXPECT_EQ(g.model("a").value("load_count", -1), 2);
}

TEST(Swap, ServerKilledUnderAPlainRequestGivesA5xxAndTheModelReloads) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() +
            // No retry: the crash itself must reach the client (a retry would reload and succeed).
            "routing: {fallback: {retries: 0}}\n" + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=100"), 5000));
    ASSERT_EQ(g.chat("a").status, 200) << g.log_tail();
    auto srv = mk.server("a");
    ASSERT_TRUE(srv);
    auto t0 = sclock::now();
    bg_request q(g.port(), chat_body("a", false, sim_field(R"({"tokens":300,"token_delay_ms":10})")), 20s);
    ASSERT_TRUE(g.wait_status([](const json& s) { return gate::entry(s, "a").value("in_flight", 0) == 1; }, 5s));
    ::kill(srv->pid, SIGKILL);
    const auto& r = q.get();
    EXPECT_LT(sclock::now() - t0, 10s) << "the client hung";
    EXPECT_GE(r.status, 500) << r.body;
    auto e = error_of(r);
    ASSERT_TRUE(e.is_object()) << r.body;
    EXPECT_FALSE(e.value("message", "").empty());
    ASSERT_TRUE(g.wait_state("a", "unloaded", 5s)) << g.status().dump(2);
    EXPECT_EQ(g.chat("a").status, 200);
    EXPECT_EQ(g.model("a").value("load_count", -1), 2);
}

// ---- 9. the client leaves while queued ---------------------------------------------------------

TEST(Swap, ClientLeavingWhileQueuedInTheDecisionWindowCallsTheLoadOff) {
    marker_guard mk;
    // A long decision window: a needs b's room, so its request waits in the
    // window (a load into free room would start at once), and leaves before it closes.
    gate g(devices_yaml(8000) + "scheduler: {policy: value, window: 1500ms}\nmodels:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=100"), 5000) +
           process_model("b", sim_command(mk.marker, "b", "load_ms=100"), 5000));
    {
        http_client first(g.port(), 10s);
        ASSERT_EQ(first.request("POST", "/v1/chat/completions", chat_body("b", false)).status, 200);
    }
    http_client c(g.port());
    c.send("POST", "/v1/chat/completions", chat_body("a", false));
    auto sent = sclock::now();
    ASSERT_TRUE(g.wait_status([](const json& s) { return gate::entry(s, "a").value("queued", 0) == 1; }, 1s))
        << g.status().dump(2);
    auto left = sclock::now();
    c.close();
    ASSERT_TRUE(g.wait_status([](const json& s) { return gate::entry(s, "a").value("queued", -1) == 0; }, 2s))
        << g.status().dump(2);
    EXPECT_LT(sclock::now() - left, 1s) << "the queue noticed the client late";
    EXPECT_EQ(g.status()["counters"].value("cancelled_queued", -1), 1);
    ASSERT_LT(sclock::now() - sent, 1400ms) << "too slow to leave within the window; the check below would mean nothing";
    // Past the window: nobody waits, so nothing loads. (An absence can only be
    // seen by waiting: the window plus a margin.)
    std::this_thread::sleep_until(sent + 2000ms);
    auto m = g.model("a");
    EXPECT_EQ(m.value("state", ""), "unloaded") << m.dump(2);
    EXPECT_EQ(m.value("load_count", -1), 0);
    EXPECT_FALSE(mk.server("a")) << "a server was started for a request that had left";
    EXPECT_EQ(g.state("b"), "loaded") << "b was evicted for a request that had left";
}

TEST(Swap, ClientLeavingWhileItsModelLoadsLetsTheLoadFinishHarmlessly) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=1500"), 5000));
    http_client c(g.port());
    c.send("POST", "/v1/chat/completions", chat_body("a", false));
    ASSERT_TRUE(g.wait_status([](const json& s) {
        auto m = gate::entry(s, "a");
        return m.value("state", "") == "loading" && m.value("queued", 0) == 1;
    }, 5s)) << g.status().dump(2);
    c.close();
    ASSERT_TRUE(g.wait_status([](const json& s) { return gate::entry(s, "a").value("queued", -1) == 0; }, 2s))
        << g.status().dump(2);
    EXPECT_EQ(g.state("a"), "loading") << "the queue should have emptied well before the load ends";
    EXPECT_EQ(g.status()["counters"].value("cancelled_queued", -1), 1);
    // Observed and documented: a started load runs to the end; the model then
    // stays loaded (until its ttl) and the request that left never reaches it.
    ASSERT_TRUE(g.wait_state("a", "loaded", 10s)) << g.status().dump(2);
    auto st = g.status();
    EXPECT_EQ(gate::entry(st, "a").value("in_flight", -1), 0);
    EXPECT_EQ(st["counters"].value("dispatches", -1), 0);
    auto srv = mk.server("a");
    ASSERT_TRUE(srv);
    EXPECT_EQ(sim_stats(port_of(*srv)).value("requests", -1), 0);
}

// A client that pipelined its next request keeps its socket readable: the
// departure must still be noticed (POLLRDHUP), not only a plain close.
TEST(Swap, ClientLeavingAfterPipeliningItsNextRequestStillLeavesTheQueue) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=3000"), 5000));
    http_client c(g.port());
    c.send("POST", "/v1/chat/completions", chat_body("a", false));
    c.send("POST", "/v1/chat/completions", chat_body("a", false));  // pipelined behind the first
    ASSERT_TRUE(g.wait_status([](const json& s) {
        auto m = gate::entry(s, "a");
        return m.value("state", "") == "loading" && m.value("queued", 0) == 1;
    }, 5s)) << g.status().dump(2);
    std::this_thread::sleep_for(300ms);  // the watch has seen the pipelined bytes by now
    EXPECT_EQ(g.model("a").value("queued", -1), 1) << "a pipelined request is not a departure";
    c.close();
    ASSERT_TRUE(g.wait_status([](const json& s) { return gate::entry(s, "a").value("queued", -1) == 0; }, 2s))
        << g.status().dump(2);
    EXPECT_EQ(g.state("a"), "loading") << "the queue should have emptied well before the load ends";
    // The first request left the queue; the pipelined one, read afterwards from
    // the closed connection, leaves it too (or is never queued).
    auto counters = g.status()["counters"];
    EXPECT_GE(counters.value("cancelled_queued", -1), 1);
    EXPECT_EQ(counters.value("dispatches", -1), 0);
}

// ---- 10. swapgate's death takes its model servers along -----------------------------------------

TEST(Swap, SigkillOfSwapgateLeavesNoModelServer) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=50"), 5000, "preload: true"));
    ASSERT_TRUE(g.wait_state("a", "loaded", 8s)) << g.log_tail();
    auto srv = mk.server("a");
    ASSERT_TRUE(srv);
    g.proc().signal(SIGKILL);
    EXPECT_EQ(g.proc().wait_exit(5s), 128 + SIGKILL);
    EXPECT_TRUE(eventually([&] { return !pid_alive(srv->pid); }, 5s)) << "the model server outlived swapgate";
    EXPECT_TRUE(mk.procs().empty());
}

TEST(Swap, SigtermOfSwapgateStopsItsModelServers) {
    marker_guard mk;
    gate g(devices_yaml(12000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=50"), 5000, "preload: true") +
           process_model("b", sim_command(mk.marker, "b", "load_ms=50"), 5000, "preload: true"));
    ASSERT_TRUE(g.wait_status([](const json& s) {
        return gate::entry(s, "a").value("state", "") == "loaded" && gate::entry(s, "b").value("state", "") == "loaded";
    }, 8s)) << g.log_tail();
    auto sa = mk.server("a"), sb = mk.server("b");
    ASSERT_TRUE(sa && sb);
    g.proc().signal(SIGTERM);
    EXPECT_EQ(g.proc().wait_exit(15s), 0) << g.log_tail();
    EXPECT_TRUE(eventually([&] { return !pid_alive(sa->pid) && !pid_alive(sb->pid); }, 3s));
    EXPECT_TRUE(mk.procs().empty());
}

// ---- 15. admin API --------------------------------------------------------------------------------

TEST(Swap, AdminCanLoadLoadForceAndPinnedUnload) {
    marker_guard mk;
    gate g(devices_yaml(10000, 3) + scheduler_yaml("", 3) + "models:\n" +
           process_model("p", sim_command(mk.marker, "p", "load_ms=50"), 1000, "pinned: true\npreload: true") +
           process_model("a", sim_command(mk.marker, "a", "load_ms=50"), 5000, "min_residency: 0s") +
           process_model("b", sim_command(mk.marker, "b", "load_ms=50"), 5000, "min_residency: 60s"));
    ASSERT_TRUE(g.wait_state("p", "loaded", 8s)) << g.log_tail();
    ASSERT_EQ(g.chat("a").status, 200);

    // Dry run: b needs a's room.
    auto cl = g.admin("GET", "/admin/models/b/can-load");
    ASSERT_EQ(cl.status, 200) << cl.body;
    auto j = json::parse(cl.body);
    EXPECT_FALSE(j.value("fits_now", true));
    EXPECT_EQ(j["would_evict"], json::array({"a"})) << cl.body;
    EXPECT_EQ(g.state("a"), "loaded") << "a dry run changed something";

    auto lb = g.admin("POST", "/admin/models/b/load");
    EXPECT_EQ(lb.status, 202) << lb.body;
    ASSERT_TRUE(g.wait_state("b", "loaded", 5s)) << g.status().dump(2);
    EXPECT_EQ(g.state("a"), "unloaded");

    // b is within its minimum residency: a plain load of a cannot evict it, a forced one can.
    auto cla = json::parse(g.admin("GET", "/admin/models/a/can-load").body);
    EXPECT_TRUE(cla["would_evict"].empty()) << cla.dump();
    EXPECT_FALSE(cla["why_not"].is_null()) << cla.dump();
    auto la = g.admin("POST", "/admin/models/a/load");
    EXPECT_EQ(la.status, 409) << la.body;
    EXPECT_EQ(g.state("b"), "loaded");
    auto lf = g.admin("POST", "/admin/models/a/load?force=true");
    EXPECT_EQ(lf.status, 202) << lf.body;
    ASSERT_TRUE(g.wait_state("a", "loaded", 5s)) << g.status().dump(2);
    EXPECT_EQ(g.state("b"), "unloaded");

    // Pinned: refused.
    auto up = g.admin("POST", "/admin/models/p/unload");
    EXPECT_EQ(up.status, 409) << up.body;
    EXPECT_EQ(error_of(up).value("code", ""), "cannot_unload");
    EXPECT_EQ(g.state("p"), "loaded");
    // Unknown model.
    EXPECT_EQ(g.admin("POST", "/admin/models/nope/load").status, 404);

    // unload-idle takes a, never p.
    auto ui = g.admin("POST", "/admin/unload-idle");
    EXPECT_EQ(ui.status, 202) << ui.body;
    ASSERT_TRUE(g.wait_state("a", "unloaded", 5s));
    EXPECT_EQ(g.state("p"), "loaded");
}

TEST(Swap, AdminRoutesNeedAnAdminKeyWhenAuthIsOn) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "auth: {api_keys: [k-user], admin_keys: [k-admin]}\nmodels:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=50"), 5000),
           "k-admin");
    http_client c(g.port());
    auto none = c.request("GET", "/admin/models");
    EXPECT_EQ(none.status, 401) << none.body;
    EXPECT_TRUE(error_of(none).is_object());
    auto user = c.request("GET", "/admin/models", "", {{"Authorization", "Bearer k-user"}});
    EXPECT_EQ(user.status, 401) << "an API key that is not an admin key was let in";
    auto user_load = c.request("POST", "/admin/models/a/load", "", {{"Authorization", "Bearer k-user"}});
    EXPECT_EQ(user_load.status, 401);
    auto admin = c.request("GET", "/admin/models", "", {{"Authorization", "Bearer k-admin"}});
    EXPECT_EQ(admin.status, 200) << admin.body;
    EXPECT_TRUE(json::parse(admin.body).contains("models"));
    EXPECT_EQ(g.state("a"), "unloaded") << "a refused load went through";
}

// ---- 16. check-config -----------------------------------------------------------------------------

TEST(Swap, CheckConfigRejectsAModelLargerThanItsDevice) {
    std::string dir = temp_dir();
    std::string path = dir + "/too-big.yaml";
    write_file(path, devices_yaml(8000) + "models:\n" + process_model("a", "true", 5000) +
                         process_model("big", "true", 9000));
    std::string cmd = std::string(SWAPGATE_BIN) + " check-config " + path + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    int st = ::pclose(p);
    ASSERT_TRUE(WIFEXITED(st)) << out;
    EXPECT_NE(WEXITSTATUS(st), 0) << out;
    EXPECT_NE(out.find("models[1].memory_mb"), std::string::npos) << out;
    EXPECT_NE(out.find("gpu0"), std::string::npos) << out;

    // The same file within budget passes.
    write_file(path, devices_yaml(8000) + "models:\n" + process_model("a", "true", 5000));
    p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    out.clear();
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    st = ::pclose(p);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << out;
}

}  // namespace
}  // namespace swapgate::test::swap
