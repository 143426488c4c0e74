// The swap service's drivers other than plain `process` start/stop, with
// swapgate-sim standing in for each server: Ollama (load/unload through its API,
// /api/ps, a server that dies), vLLM sleep mode (sleep/wake, an external server
// that dies, one that dies asleep), and the GPU memory nvidia-smi reports.
#include "swap_helpers.hpp"

#include <cstdio>
#include <sys/stat.h>
#include <sys/wait.h>

namespace swapgate::test::swap {
namespace {

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

}  // namespace
}  // namespace swapgate::test::swap
