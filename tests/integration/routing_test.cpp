// Routing, fallback chains and circuit breakers (routing/ROUTING.md), over real
// loopback: swapgate and swapgate-sim as child processes, scripted upstreams for
// byte-exact scripts and for counting what reached a backend.
#include "swap_fixture.hpp"

#include <cstdlib>
#include <future>
#include <sstream>

namespace swapgate::test {
namespace {

using swap::free_port;

// ---- helpers ------------------------------------------------------------------

std::string completion_json(const std::string& id, const std::string& text) {
    return R"({"id":")" + id + R"(","object":"chat.completion","model":"x","choices":[{"index":0,"message":{"role":"assistant","content":")" +
           text + R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}})";
}

scripted_upstream::reply ok_reply(const std::string& id = "ok", const std::string& text = "fine") {
    return {{{http_reply(200, "application/json", completion_json(id, text)), {}}}};
}

scripted_upstream::reply status_reply(int status, const std::string& body) {
    return {{{http_reply(status, "application/json", body), {}}}};
}

// Stream event payloads (without "data: " and the blank line).
std::string role_event(const std::string& id) {
    return R"({"id":")" + id + R"(","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})";
}
std::string content_event(const std::string& id, const std::string& text) {
    return R"({"id":")" + id + R"(","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":")" + text +
           R"("},"finish_reason":null}]})";
}
std::string finish_event(const std::string& id) {
    return R"({"id":")" + id + R"(","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})";
}
std::string sse(const std::string& payload) { return "data: " + payload + "\n\n"; }

std::string backend(const std::string& name, const std::string& url, const std::string& extra = "") {
    return "  " + name + ":\n    url: " + url + "\n" + extra;
}

std::string dead_url() { return url_of(free_port()); }

// The value of one exact series in a Prometheus text page; -1 when absent.
double metric_value(const std::string& page, const std::string& series) {
    std::istringstream in(page);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(series + " ", 0) == 0) return std::strtod(line.c_str() + series.size() + 1, nullptr);
    return -1;
}

std::string metrics_of(int port) {
    http_client c(port);
    return c.request("GET", "/metrics").body;
}

std::string route_of(const http_response& r) { return r.header("x-swapgate-route"); }

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

json body_of(const std::string& request) { return json::parse(request_body(request)); }

http_response post_chat(int port, const std::string& body, const std::map<std::string, std::string>& headers = {}) {
    http_client c(port);
    return c.request("POST", "/v1/chat/completions", body, headers);
}

int sim_requests(int sim_port) { return sim_stats(sim_port).value("requests", -1); }

// A local model on `local_url` falling back to "hosted" on `hosted_url`.
std::string local_then_hosted(const std::string& local_url, const std::string& hosted_url,
                              const std::string& hosted_extra = "", const std::string& top = "") {
    return top + "backends:\n" + backend("localb", local_url) + backend("hostedb", hosted_url, hosted_extra) +
           "models:\n"
           "  - name: local\n    backend: localb\n    fallback: [hosted]\n"
           "  - name: hosted\n    backend: hostedb\n";
}

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

// ---- 7. auto -------------------------------------------------------------------------

const std::string auto_yaml = R"(models:
  - {name: general, backend: up}
  - {name: greek, backend: up, languages: [el]}
  - {name: small, backend: up}
  - {name: small2, backend: up}
  - {name: tooly, backend: up, capabilities: [tools]}
  - {name: seer, backend: up, capabilities: [vision]}
routing:
  tiers:
    fast: [small, small2]
  auto:
    default: general
    rules:
      - {if: {task_type: dice_rolling}, then: fast}
      - {if: {has_images: true}}
      - {if: {script: Greek}}
      - {if: {has_tools: true}}
  task_defaults:
    dice_rolling: {temperature: 0.2, max_tokens: 64}
)";

TEST(Routing, AutoRoutesByScriptTaskToolsAndImages) {
    scripted_upstream up;
    up.push(ok_reply());
    auto proxy = start_proxy("backends:\n" + backend("up", url_of(up.port())) + auto_yaml);
    auto last_body = [&] { return body_of(up.requests().back()); };

    auto greek = post_chat(proxy->port(),
                           R"({"model":"auto","messages":[{"role":"system","content":"You are a helpful assistant."},)"
                           R"({"role":"user","content":"Καλημέρα! Τι καιρό θα κάνει αύριο στην Αθήνα;"}]})");
    EXPECT_EQ(greek.status, 200) << greek.body;
    EXPECT_EQ(route_of(greek), "model=greek; rule=auto:3:script=Greek");
    EXPECT_EQ(last_body().value("model", ""), "greek");

    auto english = post_chat(proxy->port(), R"({"model":"auto","messages":[{"role":"user","content":"What is the weather tomorrow?"}]})");
    EXPECT_EQ(english.status, 200);
    EXPECT_EQ(route_of(english), "model=general; rule=auto:default");
    EXPECT_EQ(last_body().value("model", ""), "general");

    // Task defaults fill only what the request leaves out.
    auto dice = post_chat(proxy->port(),
                          R"({"model":"auto","temperature":0.9,"messages":[{"role":"user","content":"Roll a d20"}]})",
                          {{"X-Task-Type", "dice_rolling"}});
    EXPECT_EQ(dice.status, 200);
    EXPECT_EQ(route_of(dice), "model=small; rule=auto:1:task_type=dice_rolling; tier=fast; pick=ready");
    auto b = last_body();
    EXPECT_EQ(b.value("model", ""), "small");
    EXPECT_EQ(b["temperature"], 0.9) << b.dump();
    EXPECT_EQ(b["max_tokens"], 64) << b.dump();
    auto dice2 = post_chat(proxy->port(),
                           R"({"model":"auto","max_tokens":10,"messages":[{"role":"user","content":"Roll a d6"}]})",
                           {{"X-Task-Type", "dice_rolling"}});
    EXPECT_EQ(dice2.status, 200);
    b = last_body();
    EXPECT_EQ(b["temperature"], 0.2) << b.dump();
    EXPECT_EQ(b["max_tokens"], 10) << b.dump();

    auto tools = post_chat(proxy->port(),
                           R"({"model":"auto","messages":[{"role":"user","content":"What time is it?"}],)"
                           R"("tools":[{"type":"function","function":{"name":"now","parameters":{"type":"object"}}}]})");
    EXPECT_EQ(tools.status, 200);
    EXPECT_EQ(route_of(tools).rfind("model=tooly; rule=auto:4:", 0), 0u) << route_of(tools);
    EXPECT_EQ(last_body().value("model", ""), "tooly");

    auto image = post_chat(proxy->port(),
                           R"({"model":"auto","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},)"
                           R"({"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]})");
    EXPECT_EQ(image.status, 200);
    EXPECT_EQ(route_of(image).rfind("model=seer; rule=auto:2:", 0), 0u) << route_of(image);
    EXPECT_EQ(last_body().value("model", ""), "seer");

    EXPECT_EQ(up.requests().size(), 6u);
    auto m = metrics_of(proxy->port());
    EXPECT_EQ(metric_value(m, R"(swapgate_route_decisions_total{rule="auto"})"), 5) << m;
    EXPECT_EQ(metric_value(m, R"(swapgate_route_decisions_total{rule="auto_default"})"), 1) << m;
}

// ---- 8. tiers and caps -------------------------------------------------------------------

TEST(Routing, TierPicksItsFirstModelAndCapsClampMaxTokens) {
    scripted_upstream up;
    up.push(ok_reply());
    auto proxy = start_proxy("backends:\n" + backend("up", url_of(up.port())) +
                             "models:\n"
                             "  - {name: a, backend: up, caps: {max_tokens: 100}}\n"
                             "  - {name: b, backend: up}\n"
                             "routing:\n  tiers:\n    fast: [a, b]\n");
    auto last_body = [&] { return body_of(up.requests().back()); };

    auto r = post_chat(proxy->port(), chat_body("fast", false, R"("max_tokens":500)"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(route_of(r), "model=a; rule=tier; tier=fast; pick=ready");
    auto b = last_body();
    EXPECT_EQ(b.value("model", ""), "a");
    EXPECT_EQ(b["max_tokens"], 100) << b.dump();

    post_chat(proxy->port(), chat_body("fast", false, R"("max_tokens":50)"));
    EXPECT_EQ(last_body()["max_tokens"], 50);
    post_chat(proxy->port(), chat_body("fast", false, R"("max_completion_tokens":300)"));
    EXPECT_EQ(last_body()["max_completion_tokens"], 100) << last_body().dump();
    // A cap never adds the field.
    post_chat(proxy->port(), chat_body("fast", false));
    EXPECT_FALSE(last_body().contains("max_tokens")) << last_body().dump();
    // By name, too.
    auto byname = post_chat(proxy->port(), chat_body("a", false, R"("max_tokens":900)"));
    EXPECT_EQ(route_of(byname), "model=a; rule=name");
    EXPECT_EQ(last_body()["max_tokens"], 100);

    auto m = metrics_of(proxy->port());
    EXPECT_EQ(metric_value(m, R"(swapgate_route_decisions_total{rule="tier"})"), 4) << m;
}

// ROUTING.md, "For the caller": a later hop gets parameter_edits() of its own on
// the original body, not the edits made for chain[0].
TEST(Routing, ALaterHopGetsItsOwnDefaultsAndCapsNotTheFirstHops) {
    scripted_upstream up;
    up.push(ok_reply("b"));
    auto proxy = start_proxy("backends:\n" + backend("dead", dead_url()) + backend("up", url_of(up.port())) +
                             "models:\n"
                             "  - {name: a, backend: dead, caps: {max_tokens: 100}, defaults: {temperature: 0.1}}\n"
                             "  - {name: b, backend: up, caps: {max_tokens: 1000}}\n"
                             "routing:\n  tiers:\n    fast: [a, b]\n");
    auto r = post_chat(proxy->port(), chat_body("fast", false, R"("max_tokens":500)"));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(has(route_of(r), "failed=a:connect; served_by=b")) << route_of(r);
    ASSERT_EQ(up.requests().size(), 1u);
    auto b = body_of(up.requests().back());
    EXPECT_EQ(b.value("model", ""), "b");
    EXPECT_EQ(b["max_tokens"], 500) << "a's cap reached b: " << b.dump();
    EXPECT_FALSE(b.contains("temperature")) << "a's default reached b: " << b.dump();
}

// ---- 9. context overflow ------------------------------------------------------------------

std::string words(int chars, char c) { return std::string(static_cast<size_t>(chars), c); }

TEST(Routing, ContextOverflowMovesTrimsOrRejects) {
    scripted_upstream up;
    up.push(ok_reply());
    auto proxy = start_proxy("backends:\n" + backend("up", url_of(up.port())) +
                             "models:\n"
                             "  - {name: tiny, backend: up, context_window: 200, fallback: [big]}\n"
                             "  - {name: big, backend: up, context_window: 100000}\n"
                             "  - {name: trimmer, backend: up, context_window: 200, overflow: trim}\n"
                             "  - {name: strict, backend: up, context_window: 200, overflow: reject}\n");
    // ~100 tokens per long message (400 bytes / 4), 5 short ones: about 340 in all.
    auto conversation = [&](const std::string& model) {
        json msgs = json::array({
            {{"role", "system"}, {"content", "You are terse."}},
            {{"role", "user"}, {"content", words(400, 'a')}},
            {{"role", "assistant"}, {"content", "ok1"}},
            {{"role", "user"}, {"content", words(400, 'b')}},
            {{"role", "assistant"}, {"content", "ok2"}},
            {{"role", "user"}, {"content", words(400, 'c')}},
            {{"role", "assistant"}, {"content", "ok3"}},
            {{"role", "user"}, {"content", "final question?"}},
        });
        return json{{"model", model}, {"messages", msgs}}.dump();
    };

    auto moved = post_chat(proxy->port(), conversation("tiny"));
    EXPECT_EQ(moved.status, 200) << moved.body;
    EXPECT_EQ(route_of(moved), "model=big; rule=name; overflow=next:tiny");
    ASSERT_EQ(up.requests().size(), 1u);
    EXPECT_EQ(body_of(up.requests().back()).value("model", ""), "big");

    auto trimmed = post_chat(proxy->port(), conversation("trimmer"));
    EXPECT_EQ(trimmed.status, 200) << trimmed.body;
    EXPECT_EQ(route_of(trimmed), "model=trimmer; rule=name; overflow=trim:2");
    ASSERT_EQ(up.requests().size(), 2u);
    auto b = body_of(up.requests().back());
    EXPECT_EQ(b.value("model", ""), "trimmer");
    std::vector<std::string> contents;
    for (const auto& m : b["messages"]) contents.push_back(m.value("content", ""));
    std::vector<std::string> want{"You are terse.", words(400, 'c'), "ok3", "final question?"};
    EXPECT_EQ(contents, want);
    EXPECT_EQ(b["messages"][0].value("role", ""), "system");
    EXPECT_EQ(b["messages"].back().value("role", ""), "user");

    auto rejected = post_chat(proxy->port(), conversation("strict"));
    EXPECT_EQ(rejected.status, 400) << rejected.body;
    auto e = json::parse(rejected.body, nullptr, false);
    ASSERT_TRUE(e.is_object() && e.contains("error")) << rejected.body;
    EXPECT_EQ(e["error"].value("code", ""), "context_length_exceeded") << rejected.body;
    EXPECT_TRUE(has(e["error"].value("message", ""), "maximum context length is 200 tokens")) << rejected.body;
    EXPECT_EQ(up.requests().size(), 2u) << "a rejected request reached the backend";
    // ROUTING.md: "model=tiny; rule=name; overflow=reject (with the 400)".
    EXPECT_EQ(route_of(rejected), "model=strict; rule=name; overflow=reject");
}

TEST(Routing, UnknownModelIs404WithTheRouteHeader) {
    scripted_upstream up;
    up.push(ok_reply());
    auto proxy = start_proxy("backends:\n" + backend("up", url_of(up.port())) + auto_yaml);
    auto r = post_chat(proxy->port(), chat_body("no-such-model", false));
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_TRUE(has(r.body, "model_not_found")) << r.body;
    EXPECT_EQ(up.requests().size(), 0u);
    // ROUTING.md: "rule=unknown (with the 404)".
    EXPECT_EQ(route_of(r), "rule=unknown");
}

// ---- 10. wait for a local load or go remote --------------------------------------------------

std::string wait_or_remote_yaml(const swap::marker_guard& mk, int sim_port, const std::string& max_local_wait) {
    return swap::devices_yaml(8000) + swap::scheduler_yaml() + "backends:\n" + backend("hostedb", url_of(sim_port)) +
           "models:\n" +
           swap::process_model("local", swap::sim_command(mk.marker, "local", "load_ms=3000"), 4000,
                               "load_cost: 5s\nmax_local_wait: " + max_local_wait + "\nfallback: [hosted]") +
           "  - name: hosted\n    backend: hostedb\n";
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
    swap::gate g(swap::devices_yaml(8000) + swap::scheduler_yaml() + "backends:\n" +
                 backend("hostedb", url_of(sim->port())) + "models:\n" +
                 swap::process_model("local", swap::sim_command(mk.marker, "local", "load_ms=1500"), 4000,
                                     "load_cost: 2s\nmax_local_wait: 1s\nfallback: [hosted]") +
                 "  - name: hosted\n    backend: hostedb\n");
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

// ---- embeddings batching ------------------------------------------------------

// swapgate in front of a sim whose embeddings calls take `call_ms`, model "emb"
// batched with one call at a time (slots: 1), so requests sent while a call runs
// gather behind it; the cache is off.
struct batched_embeddings {
    std::unique_ptr<child> sim, proxy;
    explicit batched_embeddings(int call_ms)
        : sim(start_sim({"--model", "e,embed_call_ms=" + std::to_string(call_ms) + ",dims=8"})),
          proxy(start_proxy("backends:\n  up:\n    url: " + url_of(sim->port()) +
                            "\nmodels:\n  - {name: emb, backend: up, cache: {mode: off}, batch: {window: 5s, slots: 1}}\n")) {}
    // POST /v1/embeddings with `fields` ("input":..., and more) for model emb.
    http_response embed(const std::string& fields) const {
        http_client c(proxy->port());
        return c.request("POST", "/v1/embeddings", R"({"model":"emb",)" + fields + "}");
    }
    // Starts one request and waits until the sim is busy with it.
    std::future<http_response> occupy(const std::string& fields) const {
        auto f = std::async(std::launch::async, [this, fields] { return embed(fields); });
        EXPECT_TRUE(eventually([&] { return sim_stats(sim->port()).value("active_requests", 0) == 1; }, 5s));
        return f;
    }
    std::future<http_response> later(const std::string& fields) const {
        return std::async(std::launch::async, [this, fields] { return embed(fields); });
    }
    int upstream_calls() const { return sim_stats(sim->port()).value("requests", -1); }
};

TEST(Routing, EmbeddingsGatherWhileTheBackendIsBusyAndSplitBackInOrder) {
    // Each call takes 1.5 s. The first, alone, goes at once.
    batched_embeddings b(1500);
    auto first = b.occupy(R"("input":"alpha")");
    // Three more while it runs: one string, a list of two, one string.
    std::vector<std::future<http_response>> rest;
    for (const char* in : {R"("input":"beta")", R"("input":["gamma","delta"])", R"("input":"epsilon")"})
        rest.push_back(b.later(in));
    auto r0 = first.get();
    ASSERT_EQ(r0.status, 200) << r0.body << "\n" << b.proxy->output();
    std::vector<http_response> rs;
    for (auto& f : rest) rs.push_back(f.get());
    // Two upstream calls: the lone one and the gathered batch of four inputs.
    EXPECT_EQ(b.upstream_calls(), 2);
    auto m = metrics_of(b.proxy->port());
    EXPECT_EQ(metric_value(m, R"(swapgate_embed_batch_size_count{model="emb"})"), 2) << m;
    EXPECT_EQ(metric_value(m, R"(swapgate_embed_batch_size_sum{model="emb"})"), 4) << m;

    // Each answer has its own inputs, in order, equal to what the sim answers
    // for them directly, and its own usage.
    std::map<std::string, json> direct;  // one call to the sim for all four texts
    {
        http_client c(b.sim->port());
        auto r = c.request("POST", "/v1/embeddings", R"({"model":"e","input":["beta","gamma","delta","epsilon"]})");
        auto j = json::parse(r.body);
        size_t i = 0;
        for (const char* t : {"beta", "gamma", "delta", "epsilon"}) direct[t] = j["data"][i++]["embedding"];
    }
    std::vector<std::vector<std::string>> texts{{"beta"}, {"gamma", "delta"}, {"epsilon"}};
    for (size_t i = 0; i < rs.size(); ++i) {
        ASSERT_EQ(rs[i].status, 200) << rs[i].body;
        auto j = json::parse(rs[i].body);
        EXPECT_EQ(j.value("model", ""), "emb") << rs[i].body;
        ASSERT_EQ(j["data"].size(), texts[i].size()) << rs[i].body;
        for (size_t k = 0; k < texts[i].size(); ++k) {
            EXPECT_EQ(j["data"][k].value("index", -1), static_cast<int>(k));
            EXPECT_EQ(j["data"][k]["embedding"], direct.at(texts[i][k])) << texts[i][k];
        }
        EXPECT_GT(j["usage"].value("prompt_tokens", 0), 0) << rs[i].body;
    }
    auto u1 = json::parse(rs[1].body)["usage"].value("prompt_tokens", 0);
    auto u0 = json::parse(rs[0].body)["usage"].value("prompt_tokens", 0);
    EXPECT_GT(u1, u0) << "two inputs should carry more of the batch's usage than one";
}

TEST(Routing, EmbeddingsWithDifferentParametersAreNotMerged) {
    batched_embeddings b(1000);
    auto first = b.occupy(R"("input":"x")");
    auto fa = b.later(R"("input":"x","encoding_format":"float")");
    auto fb = b.later(R"("input":"x","encoding_format":"base64")");
    EXPECT_EQ(first.get().status, 200);
    auto ra = fa.get(), rb = fb.get();
    EXPECT_EQ(ra.status, 200) << ra.body;
    EXPECT_EQ(rb.status, 200) << rb.body;
    EXPECT_TRUE(json::parse(rb.body)["data"][0]["embedding"].is_string()) << rb.body;  // base64 stayed base64
    EXPECT_EQ(b.upstream_calls(), 3);
}

TEST(Routing, OneBadInputInABatchFailsOnlyItsOwnRequest) {
    batched_embeddings b(1000);
    auto first = b.occupy(R"("input":"alpha")");
    // Gathered behind the first: two good requests and one the backend refuses
    // (a token list with a string in it).
    auto good1 = b.later(R"("input":"beta")");
    auto bad = b.later(R"("input":[1,"x"])");
    auto good2 = b.later(R"("input":["gamma","delta"])");
    EXPECT_EQ(first.get().status, 200);
    auto g1 = good1.get(), r_bad = bad.get(), g2 = good2.get();
    EXPECT_EQ(g1.status, 200) << g1.body;
    EXPECT_EQ(g2.status, 200) << g2.body;
    EXPECT_EQ(json::parse(g2.body)["data"].size(), 2u) << g2.body;
    EXPECT_EQ(r_bad.status, 400) << r_bad.body;
    EXPECT_TRUE(has(route_of(g1), "batch=alone")) << route_of(g1);
    // The refused batch, then each request on its own.
    EXPECT_EQ(b.upstream_calls(), 5);
}

TEST(Routing, AFailedBatchFallsDownTheChain) {
    auto sim = start_sim({"--model", "e,dims=8"});
    auto proxy = start_proxy("backends:\n  dead:\n    url: " + dead_url() + "\n  up:\n    url: " + url_of(sim->port()) +
                             "\nmodels:\n  - {name: emb, backend: dead, cache: {mode: off}, batch: {}, fallback: [emb2]}\n"
                             "  - {name: emb2, backend: up, upstream_model: e, cache: {mode: off}}\n");
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/embeddings", R"({"model":"emb","input":["one","two"]})");
    ASSERT_EQ(r.status, 200) << r.body << "\n" << proxy->output();
    EXPECT_TRUE(has(route_of(r), "failed=emb:status_5xx; served_by=emb2")) << route_of(r);
    EXPECT_EQ(json::parse(r.body)["data"].size(), 2u) << r.body;
    EXPECT_EQ(metric_value(metrics_of(proxy->port()), R"(swapgate_fallbacks_total{model="emb",trigger="status_5xx"})"), 1);
}

// ---- more triggers: a header timeout, a failed load, a full queue -------------------------------

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

TEST(Routing, AModelThatCannotBeLoadedFallsOver) {
    auto sim = start_sim();
    swap::gate g(swap::devices_yaml(8000) + swap::scheduler_yaml() + "backends:\n" +
                 backend("hostedb", url_of(sim->port())) + "models:\n" +
                 swap::process_model("local", "sh -c 'echo no model file; exit 3'", 4000, "fallback: [hosted]") +
                 "  - name: hosted\n    backend: hostedb\n");
    auto r = g.chat("local");
    ASSERT_EQ(r.status, 200) << r.body << "\n" << g.log_tail();
    EXPECT_TRUE(has(route_of(r), "failed=local:model_unavailable; served_by=hosted")) << route_of(r);
    EXPECT_EQ(sim_requests(sim->port()), 1);
}

TEST(Routing, AFullQueueFallsOver) {
    swap::marker_guard mk;
    auto sim = start_sim();
    swap::gate g(swap::devices_yaml(8000) + swap::scheduler_yaml() + "backends:\n" +
                 backend("hostedb", url_of(sim->port())) + "models:\n" +
                 swap::process_model("local", swap::sim_command(mk.marker, "local", "load_ms=3000"), 4000,
                                     "max_queue: 1\nmax_local_wait: 60s\nfallback: [hosted]") +
                 "  - name: hosted\n    backend: hostedb\n");
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
