// The swap service when things go wrong: full queues and queue timeouts,
// loads that fail (and back off), and victims drained under a running stream.
#include "swap_helpers.hpp"

#include <cstdio>
#include <sys/stat.h>
#include <sys/wait.h>

namespace swapgate::test::swap {
namespace {

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

// a and b, 5000 MB each, both loading in 50 ms: on an 8000 MB device they take turns.
std::string two_that_take_turns(const marker_guard& mk) {
    return process_model("a", sim_command(mk.marker, "a", "load_ms=50"), 5000) +
           process_model("b", sim_command(mk.marker, "b", "load_ms=50"), 5000);
}

TEST(Swap, BusyVictimFinishesItsStreamBeforeItUnloads) {
    marker_guard mk;
    gate g(devices_yaml(8000) + scheduler_yaml() + "models:\n" + two_that_take_turns(mk));
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
           two_that_take_turns(mk));
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

}  // namespace
}  // namespace swapgate::test::swap
