// The swap scheduler as wired into the proxy (issue 5): swapgate starts and
// stops real swapgate-sim model servers (driver process), or drives a sim
// through its Ollama or vLLM-sleep API, over real loopback. Every wait polls
// with a deadline; nothing asserts on speed beyond generous hang guards.
#include "swap_fixture.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>

namespace swapgate::test::swap {
namespace {

using sclock = std::chrono::steady_clock;

// A request sent from its own thread (its own connection).
class bg_request {
public:
    bg_request(int port, std::string body, std::chrono::milliseconds timeout = 15s)
        : t_([this, port, body = std::move(body), timeout] {
              try {
                  http_client c(port, timeout);
                  r_ = c.request("POST", "/v1/chat/completions", body);
              } catch (const std::exception& e) {
                  error_ = e.what();
              }
              done_ = true;
          }) {}
    ~bg_request() {
        if (t_.joinable()) t_.join();
    }
    bool done() const { return done_; }
    const http_response& get() {
        if (t_.joinable()) t_.join();
        if (!error_.empty()) throw std::runtime_error("background request: " + error_);
        return r_;
    }

private:
    http_response r_;
    std::string error_;
    std::atomic<bool> done_{false};
    std::thread t_;
};

bool resident_state(const std::string& s) {
    return s == "loading" || s == "loaded" || s == "draining" || s == "unloading";
}

long long metric_value(const std::string& metrics, const std::string& series) {
    auto at = metrics.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::atoll(metrics.c_str() + at + series.size() + 2);
}

json error_of(const http_response& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return json();
    return j["error"];
}

bool is_sleeping(int sim_port) {
    http_client c(sim_port);
    auto r = c.request("GET", "/is_sleeping");
    return r.status == 200 && json::parse(r.body).value("is_sleeping", false);
}

json ollama_ps(int sim_port) {
    http_client c(sim_port);
    return json::parse(c.request("GET", "/api/ps").body);
}

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
    // A long decision window: the request waits in it, and leaves before it closes.
    gate g(devices_yaml(8000) + "scheduler: {policy: value, window: 1500ms}\nmodels:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=100"), 5000));
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
    EXPECT_TRUE(mk.procs().empty()) << "a server was started for a request that had left";
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

// On a GPU device the memory a process model really holds is read from
// nvidia-smi after its load. This machine has no GPU: a stand-in nvidia-smi on
// the PATH answers the compute-apps query for the model server's pid.
TEST(Swap, NvidiaSmiReportReplacesTheConfiguredMemory) {
    marker_guard mk;
    std::string dir = temp_dir();
    write_file(dir + "/nvidia-smi",
               "#!/bin/sh\n"
               "case \"$*\" in *query-compute-apps=pid,used_memory*) ;; *) exit 1 ;; esac\n"
               "for f in /proc/[0-9]*/cmdline; do\n"
               "  if tr '\\000' ' ' < \"$f\" 2>/dev/null | grep -q -- '" + mk.marker + "-a,'; then\n"
               "    p=${f#/proc/}; echo \"${p%/cmdline}, 4321\"\n"
               "  fi\n"
               "done\n"
               "echo \"1, 999\"\n");
    ASSERT_EQ(::chmod((dir + "/nvidia-smi").c_str(), 0755), 0);
    std::string old_path = ::getenv("PATH") ? ::getenv("PATH") : "";
    ::setenv("PATH", (dir + ":" + old_path).c_str(), 1);
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=50"), 5000));
    ::setenv("PATH", old_path.c_str(), 1);
    ASSERT_EQ(g.chat("a").status, 200) << g.log_tail();
    auto m = g.model("a");
    EXPECT_EQ(m.value("memory_observed_mb", -1), 4321) << m.dump(2);
    EXPECT_NE(g.log_tail().find("nvidia-smi reports 4321 MB"), std::string::npos) << g.log_tail();
}

// ---- 11. Ollama ------------------------------------------------------------------------------------

TEST(Swap, OllamaDriverLoadsAndUnloadsThroughTheApi) {
    auto sim = start_sim({"--model", "o,loaded=0,load_ms=200,memory_mb=3000"});
    gate g(devices_yaml(8000) + scheduler_yaml() + "backends:\n  ollama_sim:\n    url: " + url_of(sim->port()) +
           "\nmodels:\n  - name: o\n    driver: ollama\n    backend: ollama_sim\n    memory_mb: 3000\n"
           "    load_cost: 1s\n    min_residency: 0s\n");
    EXPECT_TRUE(ollama_ps(sim->port())["models"].empty());
    EXPECT_EQ(g.state("o"), "unloaded");

    // An admin load goes through /api/generate: resident without any chat request.
    auto l = g.admin("POST", "/admin/models/o/load");
    EXPECT_EQ(l.status, 202) << l.body;
    ASSERT_TRUE(g.wait_state("o", "loaded", 5s)) << g.log_tail();
    auto ps = ollama_ps(sim->port());
    ASSERT_EQ(ps["models"].size(), 1u) << ps.dump();
    EXPECT_EQ(ps["models"][0].value("name", ""), "o");
    auto stats = sim_stats(sim->port());
    EXPECT_EQ(stats["per_model"]["o"].value("loads", -1), 1);
    EXPECT_EQ(stats.value("requests", -1), 0);
    EXPECT_EQ(g.model("o").value("memory_observed_mb", -1), 3000);

    auto r = g.chat("o");
    EXPECT_EQ(r.status, 200) << r.body;

    auto u = g.admin("POST", "/admin/models/o/unload");
    EXPECT_EQ(u.status, 202) << u.body;
    ASSERT_TRUE(g.wait_state("o", "unloaded", 5s)) << g.status().dump(2);
    EXPECT_TRUE(ollama_ps(sim->port())["models"].empty());
    EXPECT_EQ(sim_stats(sim->port())["per_model"]["o"].value("unloads", -1), 1);

    // The next request loads it again.
    EXPECT_EQ(g.chat("o").status, 200);
    EXPECT_EQ(ollama_ps(sim->port())["models"].size(), 1u);
    EXPECT_EQ(g.model("o").value("load_count", -1), 2);
}

// No child process tells swapgate that an Ollama server died or dropped the
// model: the driver polls /api/ps while the model is loaded (watch_interval).
TEST(Swap, OllamaServerThatDiesIsNoticedAndTheModelCountsAsUnloaded) {
    auto sim = start_sim({"--model", "o,loaded=0,load_ms=100,memory_mb=3000"});
    gate g(devices_yaml(8000) + scheduler_yaml() + "backends:\n  ollama_sim:\n    url: " + url_of(sim->port()) +
           "\nmodels:\n  - name: o\n    driver: ollama\n    backend: ollama_sim\n    memory_mb: 3000\n"
           "    load_cost: 1s\n    min_residency: 0s\n    watch_interval: 200ms\n");
    ASSERT_EQ(g.chat("o").status, 200) << g.log_tail();
    EXPECT_EQ(g.state("o"), "loaded");
    // Still loaded after several checks while Ollama is well.
    std::this_thread::sleep_for(700ms);
    EXPECT_EQ(g.state("o"), "loaded") << g.log_tail();
    sim->signal(SIGKILL);
    sim->wait_exit(2s);
    ASSERT_TRUE(g.wait_status([](const json& s) { return gate::entry(s, "o").value("state", "") != "loaded"; }, 5s))
        << "the model still shows as loaded after its Ollama server died:\n" << g.model("o").dump(2);
    EXPECT_EQ(g.status()["counters"].value("crashes", -1), 1);
    EXPECT_NE(g.log_tail().find("no longer listed by Ollama"), std::string::npos) << g.log_tail();
    // The next request tries to load it again, and says why it cannot.
    auto r = g.chat("o");
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_NE(r.body.find("Ollama did not load"), std::string::npos) << r.body;
}

TEST(Swap, ExternalVllmServerThatDiesIsNoticed) {
    auto sim = start_sim({"--model", "v,loaded=1,load_ms=0,sleep_ms=20,wake_ms=20,memory_mb=3000"});
    gate g(devices_yaml(8000) + scheduler_yaml() + "backends:\n  vllm_sim:\n    url: " + url_of(sim->port()) +
           "\nmodels:\n  - name: v\n    driver: vllm-sleep\n    backend: vllm_sim\n    memory_mb: 3000\n"
           "    load_cost: 1s\n    min_residency: 0s\n    watch_interval: 200ms\n");
    ASSERT_TRUE(eventually([&] { return is_sleeping(sim->port()); }, 5s));
    ASSERT_EQ(g.chat("v").status, 200) << g.log_tail();
    EXPECT_EQ(g.state("v"), "loaded");
    sim->signal(SIGKILL);
    sim->wait_exit(2s);
    ASSERT_TRUE(g.wait_status([](const json& s) { return gate::entry(s, "v").value("state", "") != "loaded"; }, 5s))
        << g.model("v").dump(2);
    EXPECT_EQ(g.status()["counters"].value("crashes", -1), 1);
    EXPECT_NE(g.log_tail().find("does not answer /health"), std::string::npos) << g.log_tail();
}

// ---- 12. vLLM sleep mode ---------------------------------------------------------------------------

TEST(Swap, VllmSleepDriverSleepsAtStartWakesOnDemandAndSleepsOnUnload) {
    auto sim = start_sim({"--model", "v,loaded=1,load_ms=0,sleep_ms=50,wake_ms=150,memory_mb=3000"});
    gate g(devices_yaml(8000) + scheduler_yaml() + "backends:\n  vllm_sim:\n    url: " + url_of(sim->port()) +
           "\nmodels:\n  - name: v\n    driver: vllm-sleep\n    backend: vllm_sim\n    memory_mb: 3000\n"
           "    load_cost: 1s\n    min_residency: 0s\n");
    ASSERT_TRUE(eventually([&] { return is_sleeping(sim->port()); }, 5s)) << "swapgate did not put vLLM to sleep";
    auto s0 = g.state("v");
    EXPECT_TRUE(s0 == "unloaded" || s0 == "sleeping") << s0;

    auto r = g.chat("v");
    ASSERT_EQ(r.status, 200) << r.body << "\n" << g.log_tail();
    EXPECT_FALSE(is_sleeping(sim->port()));
    auto m = g.model("v");
    EXPECT_EQ(m.value("state", ""), "loaded");
    EXPECT_EQ(m.value("load_count", -1), 1);

    auto u = g.admin("POST", "/admin/models/v/unload");
    EXPECT_EQ(u.status, 202) << u.body;
    ASSERT_TRUE(g.wait_state("v", "sleeping", 5s)) << g.status().dump(2);
    EXPECT_TRUE(is_sleeping(sim->port()));

    ASSERT_EQ(g.chat("v").status, 200) << g.log_tail();
    EXPECT_FALSE(is_sleeping(sim->port()));
    auto st = g.status();
    m = gate::entry(st, "v");
    EXPECT_EQ(m.value("load_count", -1), 2);
    EXPECT_EQ(m.value("wake_count", -1), 1);
    EXPECT_EQ(st["counters"].value("wakes", -1), 1);
    // One real load in the sim: every later residency change was sleep/wake.
    EXPECT_EQ(sim_stats(sim->port())["per_model"]["v"].value("loads", -1), 1);
}

// Found while writing these tests (see SCHEDULER.md, Failures: "model_crashed: ... the model is
// unloaded (a sleeping vLLM server is gone too: the next load is cold)").
TEST(Swap, VllmSleepServerThatDiesAsleepIsReloadedCold) {
    marker_guard mk;
    const int port = free_port();
    std::string cmd = std::string(SWAPGATE_SIM_BIN) + " --listen 127.0.0.1:${PORT} --model " + mk.marker +
                      "-v,loaded=1,load_ms=100,sleep_ms=50,wake_ms=50 --quiet";
    gate g(devices_yaml(8000) + scheduler_yaml() + "backends:\n  vllm_own:\n    url: http://127.0.0.1:" +
           std::to_string(port) + "/v1\nmodels:\n  - name: v\n    driver: vllm-sleep\n    backend: vllm_own\n" +
           "    command: \"" + cmd + "\"\n    memory_mb: 3000\n    load_cost: 1s\n    min_residency: 0s\n");
    EXPECT_TRUE(mk.procs().empty()) << "with a command, the server starts on the first load";
    ASSERT_EQ(g.chat("v").status, 200) << g.log_tail();
    auto srv = mk.server("v");
    ASSERT_TRUE(srv);
    ASSERT_EQ(g.admin("POST", "/admin/models/v/unload").status, 202);
    ASSERT_TRUE(g.wait_state("v", "sleeping", 5s)) << g.status().dump(2);
    EXPECT_TRUE(is_sleeping(port));
    ::kill(srv->pid, SIGKILL);
    EXPECT_TRUE(g.wait_state("v", "unloaded", 3s))
        << "BUG: the server died while asleep but the model still shows as sleeping:\n" << g.model("v").dump(2);
    EXPECT_EQ(g.status()["counters"].value("crashes", -1), 1);
    // The next request restarts the server either way; it is a cold load, not a wake.
    ASSERT_EQ(g.chat("v").status, 200) << g.log_tail();
    auto m = g.model("v");
    EXPECT_EQ(m.value("load_count", -1), 2);
    EXPECT_EQ(m.value("wake_count", -1), 0) << "a cold restart was counted (and learned) as a wake";
}

// Found while writing these tests: an Ollama model resident before swapgate
// started (e.g. loaded with keep_alive -1 by a swapgate that was killed) is
// neither unloaded nor counted, so the device budget is silently overrun.
TEST(Swap, OllamaModelResidentBeforeStartIsReconciled) {
    auto sim = start_sim({"--model", "o,loaded=1,load_ms=0,memory_mb=3000", "--model", "q,loaded=0,load_ms=50,memory_mb=3000"});
    ASSERT_TRUE(eventually([&] { return ollama_ps(sim->port())["models"].size() == 1; }, 3s));
    gate g(devices_yaml(4000) + scheduler_yaml() + "backends:\n  ollama_sim:\n    url: " + url_of(sim->port()) +
           "\nmodels:\n"
           "  - name: o\n    driver: ollama\n    backend: ollama_sim\n    memory_mb: 3000\n    min_residency: 0s\n"
           "  - name: q\n    driver: ollama\n    backend: ollama_sim\n    memory_mb: 3000\n    min_residency: 0s\n");
    bool consistent = eventually([&] {
        bool resident = !ollama_ps(sim->port())["models"].empty();
        return !resident || g.state("o") == "loaded";
    }, 3s);
    EXPECT_TRUE(consistent) << "BUG: Ollama holds 'o' but swapgate counts it unloaded: " << g.model("o").dump(2);
    EXPECT_EQ(g.chat("q").status, 200);
    auto ps = ollama_ps(sim->port());
    EXPECT_LE(ps["models"].size(), 1u) << "BUG: both 3000 MB models resident on a 4000 MB device: " << ps.dump();
}

// ---- 13. queue limits ----------------------------------------------------------------------------

TEST(Swap, FullQueueAnswers429WithRetryAfter) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=1500"), 5000, "max_queue: 1"));
    bg_request first(g.port(), chat_body("a", false));
    ASSERT_TRUE(g.wait_status([](const json& s) { return gate::entry(s, "a").value("queued", 0) == 1; }, 5s));
    EXPECT_EQ(metric_value(g.metrics(), R"(swapgate_queue_depth{model="a"})"), 1);
    // max_queue 1: the one waiting request fills the queue, so the second and
    // the third are both turned away.
    for (int i = 0; i < 2; ++i) {
        auto r = g.chat("a");
        EXPECT_EQ(r.status, 429) << r.body;
        auto ra = r.header("retry-after");
        ASSERT_FALSE(ra.empty());
        EXPECT_GE(std::atoi(ra.c_str()), 1) << ra;
        auto e = error_of(r);
        ASSERT_TRUE(e.is_object()) << r.body;
        EXPECT_EQ(e.value("type", ""), "rate_limit_error");
        EXPECT_EQ(e.value("code", ""), "model_queue_full");
        EXPECT_NE(e.value("message", "").find("'a'"), std::string::npos) << e.dump();
    }
    EXPECT_EQ(first.get().status, 200);
    EXPECT_EQ(g.status()["counters"].value("rejected_429", -1), 2);
}

TEST(Swap, QueueTimeoutAnswers503WithRetryAfter) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=5000"), 5000, "queue_timeout: 1s"));
    auto t0 = sclock::now();
    auto r = g.chat("a");
    EXPECT_LT(sclock::now() - t0, 4500ms) << "the queue timeout did not fire before the load ended";
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_FALSE(r.header("retry-after").empty());
    auto e = error_of(r);
    ASSERT_TRUE(e.is_object()) << r.body;
    EXPECT_EQ(e.value("code", ""), "model_unavailable");
    EXPECT_NE(e.value("message", "").find("timed out"), std::string::npos) << e.dump();
    EXPECT_EQ(g.status()["counters"].value("rejected_503", -1), 1);
}

// ---- 14. failed loads ------------------------------------------------------------------------------

TEST(Swap, ServerExitingAtStartFailsTheLoadWithItsLastOutputLine) {
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", "sh -c 'echo starting; echo fatal-xq7: cannot open model file; exit 7'", 5000));
    auto r = g.chat("a");
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_FALSE(r.header("retry-after").empty());
    auto e = error_of(r);
    ASSERT_TRUE(e.is_object()) << r.body;
    std::string msg = e.value("message", "");
    EXPECT_NE(msg.find("'a'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("status 7"), std::string::npos) << msg;
    EXPECT_NE(msg.find("fatal-xq7: cannot open model file"), std::string::npos) << msg;
    auto m = g.model("a");
    EXPECT_EQ(m.value("state", ""), "failed") << m.dump(2);
    EXPECT_NE(m.value("last_error", "").find("status 7"), std::string::npos) << m.dump(2);
    // In the backoff a new request is refused at once, with the reason.
    auto r2 = g.chat("a");
    EXPECT_EQ(r2.status, 503);
    EXPECT_FALSE(r2.header("retry-after").empty());
    EXPECT_NE(r2.body.find("failed to load"), std::string::npos) << r2.body;
    EXPECT_EQ(g.status()["counters"].value("load_failures", -1), 1);
}

TEST(Swap, ServerNeverHealthyFailsTheLoadAfterLoadTimeout) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=10"), 5000,
                         "health_path: /nope\nload_timeout: 1s"));
    auto t0 = sclock::now();
    auto r = g.chat("a");
    EXPECT_LT(sclock::now() - t0, 8s);
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_FALSE(r.header("retry-after").empty());
    std::string msg = error_of(r).value("message", "");
    EXPECT_NE(msg.find("'a'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("/nope"), std::string::npos) << msg;
    EXPECT_NE(msg.find("404"), std::string::npos) << msg;
    EXPECT_EQ(g.state("a"), "failed");
    EXPECT_TRUE(eventually([&] { return mk.procs().empty(); }, 3s)) << "the unhealthy server was left running";
}

TEST(Swap, FailedModelLoadsAgainAfterItsBackoffOrWhenForced) {
    marker_guard mk;
    std::string flag = temp_dir() + "/weights-ready";
    std::string cmd = "sh -c 'test -f " + flag + " || { echo weights missing-xq8; exit 1; }; exec " +
                      sim_command(mk.marker, "a", "load_ms=50") + "'";
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" + process_model("a", cmd, 5000));
    auto r1 = g.chat("a");
    ASSERT_EQ(r1.status, 503) << r1.body;
    EXPECT_NE(r1.body.find("missing-xq8"), std::string::npos) << r1.body;
    auto m = g.model("a");
    EXPECT_EQ(m.value("state", ""), "failed");
    EXPECT_TRUE(m.contains("retry_in_ms")) << m.dump(2);
    // Once the backoff is over, a new request tries again (and fails again).
    ASSERT_TRUE(g.wait_status([](const json& s) { return !gate::entry(s, "a").contains("retry_in_ms"); }, 5s))
        << g.status().dump(2);
    auto r2 = g.chat("a");
    EXPECT_EQ(r2.status, 503) << r2.body;
    EXPECT_NE(r2.body.find("missing-xq8"), std::string::npos) << "no second load attempt: " << r2.body;
    EXPECT_EQ(g.status()["counters"].value("load_failures", -1), 2);

    // Fixed; within the (now longer) backoff a plain load is refused, a forced one goes.
    write_file(flag, "ok");
    auto plain = g.admin("POST", "/admin/models/a/load");
    EXPECT_EQ(plain.status, 409) << plain.body;
    auto forced = g.admin("POST", "/admin/models/a/load?force=true");
    EXPECT_EQ(forced.status, 202) << forced.body;
    ASSERT_TRUE(g.wait_state("a", "loaded", 5s)) << g.status().dump(2) << g.log_tail();
    EXPECT_EQ(g.chat("a").status, 200);
    EXPECT_EQ(g.model("a").value("load_count", -1), 1);  // failed loads are not counted
}

// ---- draining --------------------------------------------------------------------------------------

TEST(Swap, BusyVictimFinishesItsStreamBeforeItUnloads) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=50"), 5000) +
           process_model("b", sim_command(mk.marker, "b", "load_ms=50"), 5000));
    ASSERT_EQ(g.chat("a").status, 200) << g.log_tail();
    http_client sa(g.port(), 10s);
    sa.send("POST", "/v1/chat/completions", chat_body("a", true, sim_field(R"({"tokens":60,"token_delay_ms":20})")));
    ASSERT_EQ(sa.read_head().status, 200);
    bg_request rb(g.port(), chat_body("b", false));
    ASSERT_TRUE(g.wait_state("a", "draining", 5s)) << g.status().dump(2);
    auto sb = g.state("b");
    EXPECT_TRUE(sb == "pending" || sb == "unloaded") << "b started loading before a's memory was free: " << sb;
    auto events = sa.read_sse_events();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), "[DONE]") << "the draining stream was cut: " << events.back();
    for (const auto& e : events) EXPECT_EQ(e.find("\"error\""), std::string::npos) << e;
    EXPECT_EQ(rb.get().status, 200);
    EXPECT_EQ(g.state("a"), "unloaded");
    EXPECT_EQ(g.status()["counters"].value("drain_timeouts", -1), 0);
}

TEST(Swap, DrainTimeoutFailsTheRunningStreamWithModelStopped) {
    marker_guard mk;
    gate g(devices_yaml(8000) + "scheduler: {policy: value, window: 100ms, drain_timeout: 1s}\nmodels:\n" +
           process_model("a", sim_command(mk.marker, "a", "load_ms=50"), 5000) +
           process_model("b", sim_command(mk.marker, "b", "load_ms=50"), 5000));
    ASSERT_EQ(g.chat("a").status, 200) << g.log_tail();
    http_client sa(g.port(), 10s);
    sa.send("POST", "/v1/chat/completions", chat_body("a", true, sim_field(R"({"tokens":400,"token_delay_ms":20})")));
    ASSERT_EQ(sa.read_head().status, 200);
    auto t0 = sclock::now();
    bg_request rb(g.port(), chat_body("b", false));
    auto events = sa.read_sse_events();
    EXPECT_LT(sclock::now() - t0, 6s) << "the stream outlived drain_timeout";
    ASSERT_FALSE(events.empty());
    EXPECT_LT(events.size(), 400u);
    auto last = json::parse(events.back(), nullptr, false);
    ASSERT_TRUE(last.is_object() && last.contains("error")) << "last event: " << events.back();
    EXPECT_EQ(last["error"].value("code", ""), "model_stopped") << last.dump();
    EXPECT_NE(last["error"].value("message", "").find("drain_timeout"), std::string::npos) << last.dump();
    EXPECT_EQ(rb.get().status, 200);
    auto st = g.status();
    EXPECT_EQ(st["counters"].value("drain_timeouts", -1), 1);
    EXPECT_EQ(gate::entry(st, "b").value("state", ""), "loaded");
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
