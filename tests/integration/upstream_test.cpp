// Behaviour against a real model server process (swapgate-sim): streaming as it
// is generated, cancellation on disconnect, stalls, crashes, timeouts, keep-alive.
#include "fixture.hpp"

#include <signal.h>

#include <thread>

namespace swapgate::test {
namespace {

const std::string fast_timeouts = "    timeouts: {connect: 2s, first_byte: 600ms, idle: 600ms, total: 30s}\n";

struct UpstreamTest : ::testing::Test {
    std::unique_ptr<child> sim, proxy;
    void SetUp() override {
        sim = start_sim();
        proxy = start_proxy(one_model_config(url_of(sim->port()), fast_timeouts));
    }
    int active() { return sim_stats(sim->port())["active_requests"]; }
    int disconnects() { return sim_stats(sim->port())["client_disconnects"]; }
};

TEST_F(UpstreamTest, NonStreamAndStreamRoundTrip) {
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false, R"("sim":{"tokens":5})"));
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = json::parse(r.body);
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(j["usage"]["completion_tokens"], 5);

    c.send("POST", "/v1/chat/completions", chat_body("m", true, R"("sim":{"tokens":5})"));
    ASSERT_EQ(c.read_head().status, 200);
    auto events = c.read_sse_events();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), "[DONE]");
    std::string text;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
        auto e = json::parse(events[i]);
        auto& d = e["choices"][0]["delta"];
        if (d.contains("content") && d["content"].is_string()) text += d["content"].get<std::string>();
    }
    EXPECT_EQ(text, j["choices"][0]["message"]["content"].get<std::string>());
}

TEST_F(UpstreamTest, FirstEventArrivesWhileTheModelIsStillGenerating) {
    http_client c(proxy->port());
    c.send("POST", "/v1/chat/completions", chat_body("m", true, R"("sim":{"tokens":20,"token_delay_ms":100})"));
    ASSERT_EQ(c.read_head().status, 200);
    // Read until the first content token.
    bool got_content = false;
    while (!got_content) {
        auto chunk = c.read_chunk();
        ASSERT_TRUE(chunk.has_value());
        got_content = chunk->find("\"content\":\" ") != std::string::npos;
    }
    // 19 tokens are still to come: the sim must still be generating this request.
    EXPECT_EQ(active(), 1);
}

TEST_F(UpstreamTest, ClientDisconnectMidStreamCancelsTheUpstream) {
    {
        http_client c(proxy->port());
        c.send("POST", "/v1/chat/completions", chat_body("m", true, R"("sim":{"tokens":200,"token_delay_ms":50})"));
        ASSERT_EQ(c.read_head().status, 200);
        ASSERT_TRUE(c.read_chunk().has_value());
    }  // closed here
    EXPECT_TRUE(eventually([&] { return disconnects() == 1; }, std::chrono::seconds(5)));
    EXPECT_EQ(active(), 0);
}

TEST_F(UpstreamTest, ClientDisconnectDuringNonStreamCancelsTheUpstream) {
    {
        http_client c(proxy->port());
        c.send("POST", "/v1/chat/completions", chat_body("m", false, R"("sim":{"tokens":100,"token_delay_ms":50})"));
        ASSERT_TRUE(eventually([&] { return active() == 1; }, std::chrono::seconds(5)));
    }
    EXPECT_TRUE(eventually([&] { return disconnects() == 1; }, std::chrono::seconds(5)));
    EXPECT_TRUE(eventually([&] { return active() == 0; }, std::chrono::seconds(5)));
}

TEST_F(UpstreamTest, StalledStreamEndsWithATimeoutErrorEvent) {
    http_client c(proxy->port());
    c.send("POST", "/v1/chat/completions", chat_body("m", true, R"("sim":{"tokens":10,"stall_after_tokens":2})"));
    ASSERT_EQ(c.read_head().status, 200);
    auto events = c.read_sse_events();
    ASSERT_GE(events.size(), 2u);
    auto last = json::parse(events.back());
    ASSERT_TRUE(last.contains("error")) << events.back();
    EXPECT_EQ(last["error"]["code"], "upstream_timeout");
    // The proxy hung up on the stalled backend.
    EXPECT_TRUE(eventually([&] { return disconnects() == 1; }, std::chrono::seconds(5)));
}

TEST_F(UpstreamTest, SlowResponseHeadersAre504) {
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false, R"("sim":{"first_byte_delay_ms":5000})"));
    EXPECT_EQ(r.status, 504);
    auto e = json::parse(r.body)["error"];
    EXPECT_EQ(e["code"], "upstream_timeout");
    EXPECT_NE(e["message"].get<std::string>().find("response headers"), std::string::npos);
}

TEST_F(UpstreamTest, UpstreamStatusFromTheModelServerPassesThrough) {
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false, R"("sim":{"status":429})"));
    EXPECT_EQ(r.status, 429);
    EXPECT_TRUE(json::parse(r.body).contains("error"));
}

TEST_F(UpstreamTest, KeepAliveReusesOneUpstreamConnection) {
    http_client c(proxy->port());
    int before = sim_stats(sim->port())["connections_accepted"];  // our stats probe itself is one
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(c.request("POST", "/v1/chat/completions", chat_body("m", false)).status, 200);
    int after = sim_stats(sim->port())["connections_accepted"];
    EXPECT_EQ(after - before, 2);  // one proxy connection, plus this second stats probe
}

TEST(UpstreamCrash, ModelServerKilledMidStreamGivesAnErrorEventThen502) {
    auto sim = start_sim();
    auto proxy = start_proxy(one_model_config(url_of(sim->port()), fast_timeouts));
    http_client c(proxy->port());
    c.send("POST", "/v1/chat/completions", chat_body("m", true, R"("sim":{"tokens":50,"token_delay_ms":50})"));
    ASSERT_EQ(c.read_head().status, 200);
    ASSERT_TRUE(c.read_chunk().has_value());
    sim->signal(SIGKILL);
    auto events = c.read_sse_events();
    ASSERT_FALSE(events.empty());
    auto last = json::parse(events.back());
    ASSERT_TRUE(last.contains("error")) << events.back();
    EXPECT_EQ(last["error"]["code"], "upstream_disconnected");
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false));
    EXPECT_EQ(r.status, 502);
}

TEST(Shutdown, RunningStreamFinishesAndNewConnectionsAreRefused) {
    auto sim = start_sim();
    auto proxy = start_proxy(one_model_config(url_of(sim->port())), {});
    http_client c(proxy->port());
    c.send("POST", "/v1/chat/completions", chat_body("m", true, R"("sim":{"tokens":15,"token_delay_ms":60})"));
    ASSERT_EQ(c.read_head().status, 200);
    ASSERT_TRUE(c.read_chunk().has_value());
    http_client idle(proxy->port());  // an idle keep-alive connection is closed at once
    EXPECT_EQ(idle.request("GET", "/healthz").status, 200);
    proxy->signal(SIGTERM);
    EXPECT_TRUE(idle.wait_closed(std::chrono::seconds(2)));
    auto events = c.read_sse_events();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), "[DONE]");
    EXPECT_EQ(proxy->wait_exit(std::chrono::seconds(5)), 0);
    EXPECT_THROW(http_client late(proxy->port()), std::runtime_error);
}

TEST(Shutdown, GracePeriodCutsOffEndlessStreams) {
    auto sim = start_sim();
    auto proxy = start_proxy(one_model_config(url_of(sim->port())) + "limits:\n  shutdown_grace: 300ms\n");
    http_client c(proxy->port());
    c.send("POST", "/v1/chat/completions", chat_body("m", true, R"("sim":{"tokens":1000,"token_delay_ms":50})"));
    ASSERT_EQ(c.read_head().status, 200);
    proxy->signal(SIGTERM);
    EXPECT_EQ(proxy->wait_exit(std::chrono::seconds(5)), 0);
    EXPECT_TRUE(c.wait_closed(std::chrono::seconds(2)));
    EXPECT_TRUE(eventually([&] { return sim_stats(sim->port())["client_disconnects"] == 1; }));
}

}  // namespace
}  // namespace swapgate::test

namespace swapgate::test {
namespace {

TEST(SlowReader, ClientThatStopsReadingIsCutOffAndTheUpstreamClosed) {
    auto sim = start_sim();
    auto proxy = start_proxy(one_model_config(url_of(sim->port())) + "limits:\n  write_timeout: 500ms\n");
    http_client c(proxy->port());
    // A long, fast stream the client never reads: socket buffers fill, the proxy's
    // write stalls, and after write_timeout the proxy gives up on this client.
    c.send("POST", "/v1/chat/completions", chat_body("m", true, R"("sim":{"tokens":400000})"));
    EXPECT_TRUE(eventually([&] { return sim_stats(sim->port())["client_disconnects"] == 1; }, std::chrono::seconds(20)));
    http_client other(proxy->port());
    EXPECT_EQ(other.request("GET", "/healthz").status, 200);  // the proxy is fine
}

}  // namespace
}  // namespace swapgate::test
