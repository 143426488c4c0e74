// Fallback chains, circuit breakers and retries (routing/ROUTING.md), over real
// loopback: swapgate and swapgate-sim as child processes, scripted upstreams for
// byte-exact scripts and for counting what reached a backend. Model picking is in
// routing_pick_test.cpp, managed models (wait or go remote, scheduler triggers) in
// routing_managed_test.cpp, embeddings batching in routing_batch_test.cpp.
#include "routing_helpers.hpp"

namespace swapgate::test {
namespace {

// ---- 1. connect failure --------------------------------------------------------

TEST(Routing, ConnectFailureFallsOverToTheNextHop) {
    auto sim = start_sim();
    auto proxy = start_proxy(local_then_hosted(dead_url(), url_of(sim->port())));
    auto r = post_chat(proxy->port(), chat_body("local", false));
    ASSERT_EQ(r.status, 200) << r.body << "\n" << proxy->output();
    auto route = route_of(r);
    EXPECT_EQ(route.rfind("model=local; rule=name", 0), 0u) << route;
    EXPECT_TRUE(has(route, "failed=local:connect")) << route;
    EXPECT_TRUE(has(route, "served_by=hosted")) << route;
    auto j = json::parse(r.body);
    EXPECT_FALSE(j["choices"][0]["message"].value("content", "").empty()) << r.body;
    EXPECT_EQ(j.value("model", ""), "hosted") << r.body;  // the model that answered
    EXPECT_EQ(sim_requests(sim->port()), 1);

    // A stream falls over the same way.
    http_client c(proxy->port());
    c.send("POST", "/v1/chat/completions", chat_body("local", true));
    auto head = c.read_head();
    ASSERT_EQ(head.status, 200);
    EXPECT_TRUE(has(route_of(head), "failed=local:connect; served_by=hosted")) << route_of(head);
    auto events = c.read_sse_events();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), "[DONE]");
    EXPECT_EQ(sim_requests(sim->port()), 2);

    auto m = metrics_of(proxy->port());
    EXPECT_EQ(metric_value(m, R"(swapgate_fallbacks_total{model="local",trigger="connect"})"), 2) << m;
    EXPECT_EQ(metric_value(m, R"(swapgate_route_decisions_total{rule="name"})"), 2) << m;
}

// ---- 2. a hosted API over HTTPS -------------------------------------------------

// A CA and a certificate for localhost signed by it, made now (as tls_test.cpp does).
struct test_pki {
    std::string dir = temp_dir();
    std::string ca, cert, key;
    test_pki() {
        std::string script =
            "set -e; cd " + dir + ";"
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=swapgate-test-ca "
            "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign >/dev/null 2>&1;"
            "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost >/dev/null 2>&1;"
            "printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > ext.cnf;"
            "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
            "-extfile ext.cnf >/dev/null 2>&1";
        if (std::system(("bash -c \"" + script + "\"").c_str()) != 0) throw std::runtime_error("openssl failed");
        ca = dir + "/ca.pem";
        cert = dir + "/server.pem";
        key = dir + "/server.key";
    }
};

TEST(Routing, FallbackToAHostedApiOverHttps) {
    test_pki pki;
    auto sim = start_sim({"--tls-cert", pki.cert, "--tls-key", pki.key});
    std::string https = "https://localhost:" + std::to_string(sim->port()) + "/v1";
    auto proxy = start_proxy(local_then_hosted(dead_url(), https, "    ca_file: " + pki.ca + "\n"));
    auto r = post_chat(proxy->port(), chat_body("local", false));
    ASSERT_EQ(r.status, 200) << r.body << "\n" << proxy->output();
    EXPECT_TRUE(has(route_of(r), "failed=local:connect; served_by=hosted")) << route_of(r);
    auto j = json::parse(r.body);
    EXPECT_FALSE(j["choices"][0]["message"].value("content", "").empty()) << r.body;
    // It really went over TLS to the hosted backend.
    auto m = metrics_of(proxy->port());
    EXPECT_EQ(metric_value(m, R"(swapgate_upstream_connections_total{backend="hostedb",reused="false"})"), 1) << m;
}

// ---- 3. which statuses fall over ------------------------------------------------

TEST(Routing, FiveHundredsAnd429FallOverButA400PassesThrough) {
    scripted_upstream first;
    const std::string bad_request = R"({"error":{"message":"bad","type":"invalid_request_error","code":"nope"}})";
    first.push(status_reply(500, R"({"error":{"message":"boom"}})"));
    first.push(status_reply(429, R"({"error":{"message":"slow down"}})"));
    first.push(status_reply(400, bad_request));
    auto sim = start_sim();
    auto proxy = start_proxy(local_then_hosted(url_of(first.port()), url_of(sim->port())));

    auto r1 = post_chat(proxy->port(), chat_body("local", false));
    EXPECT_EQ(r1.status, 200) << r1.body;
    EXPECT_TRUE(has(route_of(r1), "failed=local:status_5xx; served_by=hosted")) << route_of(r1);
    auto r2 = post_chat(proxy->port(), chat_body("local", false));
    EXPECT_EQ(r2.status, 200) << r2.body;
    EXPECT_TRUE(has(route_of(r2), "failed=local:status_429; served_by=hosted")) << route_of(r2);
    auto r3 = post_chat(proxy->port(), chat_body("local", false));
    EXPECT_EQ(r3.status, 400);
    EXPECT_EQ(r3.body, bad_request);
    EXPECT_EQ(route_of(r3), "model=local; rule=name");
    EXPECT_EQ(first.requests().size(), 3u);
    EXPECT_EQ(sim_requests(sim->port()), 2);
    auto m = metrics_of(proxy->port());
    EXPECT_EQ(metric_value(m, R"(swapgate_fallbacks_total{model="local",trigger="status_5xx"})"), 1) << m;
    EXPECT_EQ(metric_value(m, R"(swapgate_fallbacks_total{model="local",trigger="status_429"})"), 1) << m;
}

TEST(Routing, SimInjectedStatusFallsOver) {
    // The first hop is a sim told to answer 502 (the body's "sim" controls); the
    // second hop, a scripted upstream, ignores them.
    auto sim = start_sim();
    scripted_upstream second;
    second.push(ok_reply("second"));
    auto proxy = start_proxy(local_then_hosted(url_of(sim->port()), url_of(second.port())));
    auto r = post_chat(proxy->port(), chat_body("local", false, R"("sim":{"status":502})"));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(has(r.body, R"("id":"second")")) << r.body;
    EXPECT_TRUE(has(route_of(r), "failed=local:status_5xx; served_by=hosted")) << route_of(r);
    EXPECT_EQ(sim_requests(sim->port()), 1);
    EXPECT_EQ(second.requests().size(), 1u);
}

// ---- 4. streams: before and after the first content delta ------------------------

TEST(Routing, StreamBrokenBeforeTheFirstContentFallsOverTransparently) {
    scripted_upstream first, second;
    // The role-only preamble, then the connection drops (no terminating chunk).
    first.push({{{sse_head + chunked({sse(role_event("first"))}), std::chrono::milliseconds(50)}}, true});
    std::vector<std::string> second_events{role_event("second"), content_event("second", "Hello"),
                                           content_event("second", " world"), finish_event("second"), "[DONE]"};
    std::string body;
    for (const auto& e : second_events) body += sse(e);
    second.push({{{sse_head + chunked({body}) + "0\r\n\r\n", {}}}});
    auto proxy = start_proxy(local_then_hosted(url_of(first.port()), url_of(second.port())));

    http_client c(proxy->port());
    c.send("POST", "/v1/chat/completions", chat_body("local", true));
    auto head = c.read_head();
    ASSERT_EQ(head.status, 200);
    EXPECT_TRUE(has(route_of(head), "failed=local:stream_closed; served_by=hosted")) << route_of(head);
    auto events = c.read_sse_events();
    // Exactly the second hop's events: one role chunk, nothing of the first hop.
    EXPECT_EQ(events, second_events);
    int roles = 0;
    for (const auto& e : events) roles += has(e, R"("role")");
    EXPECT_EQ(roles, 1);
    EXPECT_EQ(first.requests().size(), 1u);
    EXPECT_EQ(second.requests().size(), 1u);
}

TEST(Routing, StreamBrokenAfterContentEndsWithAnErrorEventNotASilentSuccess) {
    scripted_upstream first, second;
    first.push({{{sse_head + chunked({sse(role_event("first")) + sse(content_event("first", "Partial"))}),
                  std::chrono::milliseconds(50)}},
                true});
    second.push(ok_reply("second"));
    auto proxy = start_proxy(local_then_hosted(url_of(first.port()), url_of(second.port())));

    http_client c(proxy->port());
    c.send("POST", "/v1/chat/completions", chat_body("local", true));
    auto head = c.read_head();
    ASSERT_EQ(head.status, 200);
    EXPECT_EQ(route_of(head), "model=local; rule=name");
    // read_sse_events returns only at [DONE] or a clean end of the chunked body
    // (a dropped connection throws).
    auto events = c.read_sse_events();
    ASSERT_EQ(events.size(), 3u) << ::testing::PrintToString(events);
    EXPECT_EQ(events[0], role_event("first"));
    EXPECT_EQ(events[1], content_event("first", "Partial"));
    auto err = json::parse(events[2], nullptr, false);
    ASSERT_TRUE(err.is_object() && err.contains("error") && err["error"].is_object()) << events[2];
    EXPECT_FALSE(err["error"].value("message", "").empty()) << events[2];
    for (const auto& e : events) EXPECT_NE(e, "[DONE]");
    // Nothing was sent to the second hop: the answer was already committed.
    EXPECT_EQ(second.requests().size(), 0u);
}

// ---- 5. the circuit breaker ---------------------------------------------------------

TEST(Routing, BreakerSkipsADeadHopAndProbesItAfterTheCooldown) {
    scripted_upstream flaky;
    flaky.push(status_reply(500, "{}"));
    flaky.push(status_reply(500, "{}"));
    // The first probe: held for a while, then a failure.
    flaky.push({{{"", std::chrono::milliseconds(700)}, {http_reply(500, "application/json", "{}"), {}}}});
    flaky.push(ok_reply("flaky"));
    auto sim = start_sim();
    auto proxy = start_proxy(local_then_hosted(url_of(flaky.port()), url_of(sim->port()), "",
                                               "routing:\n  fallback: {breaker_failures: 2, breaker_cooldown: 1s}\n"));
    const std::string state = R"(swapgate_breaker_state{backend="localb"})";
    auto chat = [&] { return post_chat(proxy->port(), chat_body("local", false)); };

    auto r1 = chat();
    EXPECT_EQ(r1.status, 200);
    EXPECT_TRUE(has(route_of(r1), "failed=local:status_5xx; served_by=hosted")) << route_of(r1);
    EXPECT_EQ(metric_value(metrics_of(proxy->port()), state), 0);
    auto r2 = chat();
    EXPECT_TRUE(has(route_of(r2), "failed=local:status_5xx; served_by=hosted")) << route_of(r2);
    EXPECT_EQ(metric_value(metrics_of(proxy->port()), state), 2);

    // Open: skipped without a connection or a request.
    int conns = flaky.connections();
    auto r3 = chat();
    EXPECT_EQ(r3.status, 200);
    EXPECT_TRUE(has(route_of(r3), "skipped=local:breaker_open; served_by=hosted")) << route_of(r3);
    EXPECT_FALSE(has(route_of(r3), "failed=")) << route_of(r3);
    EXPECT_EQ(flaky.requests().size(), 2u);
    EXPECT_EQ(flaky.connections(), conns);
    auto m = metrics_of(proxy->port());
    EXPECT_EQ(metric_value(m, R"(swapgate_fallbacks_total{model="local",trigger="breaker_open"})"), 1) << m;

    // After the cooldown: one probe goes through (half-open while it runs); a
    // request arriving meanwhile is still skipped.
    std::this_thread::sleep_for(1100ms);
    auto probe = std::async(std::launch::async, chat);
    ASSERT_TRUE(eventually([&] { return flaky.requests().size() == 3; }, 5s));
    EXPECT_EQ(metric_value(metrics_of(proxy->port()), state), 1);
    auto during = chat();
    EXPECT_TRUE(has(route_of(during), "skipped=local:breaker_open")) << route_of(during);
    auto r4 = probe.get();
    EXPECT_EQ(r4.status, 200);
    EXPECT_TRUE(has(route_of(r4), "failed=local:status_5xx; served_by=hosted")) << route_of(r4);
    EXPECT_EQ(flaky.requests().size(), 3u);

    // The failed probe opened it again (for a doubled cooldown: 2 s).
    EXPECT_EQ(metric_value(metrics_of(proxy->port()), state), 2);
    auto r5 = chat();
    EXPECT_TRUE(has(route_of(r5), "skipped=local:breaker_open")) << route_of(r5);
    EXPECT_EQ(flaky.requests().size(), 3u);

    // The next probe succeeds and closes it.
    std::this_thread::sleep_for(2100ms);
    auto r6 = chat();
    EXPECT_EQ(r6.status, 200);
    EXPECT_EQ(route_of(r6), "model=local; rule=name");
    EXPECT_TRUE(has(r6.body, R"("id":"flaky")")) << r6.body;
    EXPECT_EQ(flaky.requests().size(), 4u);
    // The outcome is recorded just after the answer went out: poll briefly.
    EXPECT_TRUE(eventually([&] { return metric_value(metrics_of(proxy->port()), state) == 0; }, 2s))
        << metric_value(metrics_of(proxy->port()), state);
    auto r7 = chat();
    EXPECT_EQ(route_of(r7), "model=local; rule=name");
    EXPECT_EQ(flaky.requests().size(), 5u);
}

// ---- 6. retries of the last hop ----------------------------------------------------

TEST(Routing, LastHopIsRetriedOnceAfterA503) {
    scripted_upstream up;
    up.push(status_reply(503, R"({"error":{"message":"busy"}})"));
    up.push(ok_reply("retried"));
    auto proxy = start_proxy("routing:\n  fallback: {retries: 1, retry_backoff: 10ms}\n" + one_model_config(url_of(up.port())));
    auto r = post_chat(proxy->port(), chat_body("m", false));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(has(r.body, R"("id":"retried")")) << r.body;
    EXPECT_EQ(up.requests().size(), 2u);
}

TEST(Routing, WithoutRetriesThe503PassesThrough) {
    scripted_upstream up;
    const std::string busy = R"({"error":{"message":"busy"}})";
    up.push(status_reply(503, busy));
    up.push(ok_reply("retried"));
    auto proxy = start_proxy("routing:\n  fallback: {retries: 0}\n" + one_model_config(url_of(up.port())));
    auto r = post_chat(proxy->port(), chat_body("m", false));
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body, busy);
    EXPECT_EQ(up.requests().size(), 1u);
}

// ---- 7. more triggers: a header timeout

TEST(Routing, AHeaderTimeoutFallsOver) {
    scripted_upstream slow;  // says nothing for 3 s: past the backend's first_byte timeout
    scripted_upstream::reply late;
    late.parts.push_back({"", 3000ms});
    late.parts.push_back({http_reply(200, "application/json", completion_json("late", "too late")), 0ms});
    slow.push(late);
    auto sim = start_sim();
    auto proxy = start_proxy("backends:\n" +
                             backend("localb", url_of(slow.port()), "    timeouts: {first_byte: 300ms}\n") +
                             backend("hostedb", url_of(sim->port())) +
                             "models:\n  - {name: local, backend: localb, fallback: [hosted]}\n"
                             "  - {name: hosted, backend: hostedb}\n");
    auto r = post_chat(proxy->port(), chat_body("local", false));
    ASSERT_EQ(r.status, 200) << r.body << "\n" << proxy->output();
    EXPECT_TRUE(has(route_of(r), "failed=local:timeout; served_by=hosted")) << route_of(r);
    EXPECT_FALSE(has(r.body, "too late")) << r.body;
    EXPECT_EQ(metric_value(metrics_of(proxy->port()), R"(swapgate_fallbacks_total{model="local",trigger="timeout"})"), 1);
}

}  // namespace
}  // namespace swapgate::test
