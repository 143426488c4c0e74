// Fault switches of swapgate-sim and how it notices clients that leave.
#include <gtest/gtest.h>

#include <csignal>

#include "sim_helpers.hpp"

using namespace swapgate::sim_test;
using swapgate::test::http_client;

namespace {
// Reads chunks until the terminating chunk or until the connection drops (the harness throws then).
std::vector<std::string> chunks_until_drop(http_client& c, bool& dropped) {
    std::vector<std::string> out;
    dropped = false;
    try {
        while (auto chunk = c.read_chunk()) out.push_back(*chunk);
    } catch (const std::runtime_error&) {
        dropped = true;
    }
    return out;
}
}  // namespace

TEST(SimFaults, StatusSwitch) {
    auto sim = start_sim();
    auto r = call(sim->port(), "POST", "/v1/chat/completions", chat("x", {{"sim", {{"status", 429}}}}));
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.http.header("retry-after"), "1");
    EXPECT_TRUE(r.body["error"]["message"].is_string());
    EXPECT_TRUE(r.body["error"]["type"].is_string());
    auto e = call(sim->port(), "POST", "/v1/chat/completions", chat("x", {{"sim", {{"status", 500}}}}));
    EXPECT_EQ(e.status, 500);
    EXPECT_EQ(e.body["error"]["type"], "server_error");
    EXPECT_EQ(call(sim->port(), "POST", "/v1/embeddings", json{{"input", "a"}, {"sim", {{"status", 503}}}}).status, 503);
}

TEST(SimFaults, FailNthFromCommandLine) {
    auto sim = start_sim({"--fail-nth", "3", "--fail-status", "429"});
    std::vector<int> got;
    for (int i = 0; i < 6; ++i) got.push_back(call(sim->port(), "POST", "/v1/chat/completions", chat("x")).status);
    EXPECT_EQ(got, (std::vector<int>{200, 200, 429, 200, 200, 429}));
}

TEST(SimFaults, FailNthFromApi) {
    auto sim = start_sim();
    auto set = call(sim->port(), "POST", "/sim/faults", json{{"fail_nth", 2}, {"fail_status", 502}});
    ASSERT_EQ(set.status, 200);
    EXPECT_EQ(set.body, json({{"fail_nth", 2}, {"fail_status", 502}}));
    EXPECT_EQ(call(sim->port(), "POST", "/v1/chat/completions", chat("x")).status, 200);
    EXPECT_EQ(call(sim->port(), "POST", "/v1/completions", json{{"prompt", "x"}}).status, 502);
    call(sim->port(), "POST", "/sim/faults", json{{"fail_nth", 0}});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(call(sim->port(), "POST", "/v1/chat/completions", chat("x")).status, 200);
}

TEST(SimFaults, DieAfterTokensStream) {
    auto sim = start_sim();
    http_client c(sim->port());
    c.send("POST", "/v1/chat/completions", chat("x", {{"stream", true}, {"sim", {{"tokens", 10}, {"die_after_tokens", 3}}}}).dump());
    EXPECT_EQ(c.read_head().status, 200);
    bool dropped = false;
    auto chunks = chunks_until_drop(c, dropped);  // role + 3 tokens, then the socket closes: no [DONE]
    EXPECT_TRUE(dropped);
    ASSERT_EQ(chunks.size(), 1u + 3u);
    EXPECT_EQ(chunks.back().find("[DONE]"), std::string::npos);
    auto s = stats(sim->port());
    EXPECT_EQ(s["client_disconnects"], 0);
    EXPECT_EQ(s["completed"], 0);
}

TEST(SimFaults, DieAfterTokensNonStream) {
    auto sim = start_sim();
    http_client c(sim->port());
    c.send("POST", "/v1/chat/completions", chat("x", {{"sim", {{"die_after_tokens", 2}}}}).dump());
    EXPECT_TRUE(c.wait_closed(2s));
}

TEST(SimFaults, StallAfterTokensThenClientLeaves) {
    auto sim = start_sim();
    {
        http_client c(sim->port(), 2s);
        c.send("POST", "/v1/chat/completions",
               chat("x", {{"stream", true}, {"sim", {{"tokens", 10}, {"stall_after_tokens", 2}}}}).dump());
        EXPECT_EQ(c.read_head().status, 200);
        for (int i = 0; i < 3; ++i) EXPECT_TRUE(c.read_chunk());  // role + 2 tokens
        EXPECT_FALSE(c.wait_closed(300ms));                        // stalled, still open
        EXPECT_EQ(stats(sim->port())["active_requests"], 1);
    }
    EXPECT_TRUE(eventually([&] { return stats(sim->port())["client_disconnects"] == 1; }, 2s));
    EXPECT_EQ(stats(sim->port())["active_requests"], 0);
}

TEST(SimFaults, FirstByteDelay) {
    auto sim = start_sim();
    auto start = std::chrono::steady_clock::now();
    http_client c(sim->port());
    c.send("POST", "/v1/chat/completions", chat("x", {{"stream", true}, {"sim", {{"first_byte_delay_ms", 250}}}}).dump());
    EXPECT_EQ(c.read_head().status, 200);
    EXPECT_GE(ms_since(start), 240);
    auto s = start;
    s = std::chrono::steady_clock::now();
    auto r = call(sim->port(), "POST", "/v1/chat/completions", chat("x", {{"sim", {{"first_byte_delay_ms", 150}, {"status", 503}}}}));
    EXPECT_EQ(r.status, 503);
    EXPECT_GE(ms_since(s), 140);
}

TEST(SimFaults, ExitAfterTokens) {
    auto sim = start_sim();
    http_client c(sim->port());
    c.send("POST", "/v1/chat/completions",
           chat("x", {{"stream", true}, {"sim", {{"tokens", 10}, {"exit_after_tokens", 2}}}}).dump());
    EXPECT_EQ(c.read_head().status, 200);
    bool dropped = false;
    EXPECT_EQ(chunks_until_drop(c, dropped).size(), 3u);
    EXPECT_TRUE(dropped);
    EXPECT_EQ(sim->wait_exit(5s), 3);  // the harness returns the exit code
}

TEST(SimFaults, ClientLeavesMidStream) {
    auto sim = start_sim({"--model", "m,slots=1"});
    {
        http_client c(sim->port());
        c.send("POST", "/v1/chat/completions",
               chat("x", {{"stream", true}, {"sim", {{"tokens", 100}, {"token_delay_ms", 50}}}}).dump());
        EXPECT_EQ(c.read_head().status, 200);
        for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.read_chunk());
    }  // closes the socket
    auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(eventually([&] { return stats(sim->port())["client_disconnects"] == 1; }, 2s));
    EXPECT_LT(ms_since(start), 500);  // noticed promptly, not at the end of the reply
    auto s = stats(sim->port());
    EXPECT_EQ(s["active_requests"], 0);
    EXPECT_EQ(s["completed"], 0);
    // the slot was freed
    EXPECT_EQ(call(sim->port(), "POST", "/v1/chat/completions", chat("y")).status, 200);
}

TEST(SimFaults, ClientLeavesWhileQueuedOrNonStream) {
    auto sim = start_sim({"--model", "m,slots=1"});
    http_client busy(sim->port());
    busy.send("POST", "/v1/chat/completions", chat("x", {{"sim", {{"ttft_ms", 800}}}}).dump());
    {
        http_client queued(sim->port());
        queued.send("POST", "/v1/chat/completions", chat("y").dump());
        ASSERT_TRUE(eventually([&] { return stats(sim->port())["per_model"]["m"]["queued"] == 1; }, 2s));
    }
    ASSERT_TRUE(eventually([&] { return stats(sim->port())["client_disconnects"] == 1; }, 2s));
    EXPECT_EQ(stats(sim->port())["per_model"]["m"]["queued"], 0);
    busy.close();  // a non-streaming client leaving while the reply is generated
    ASSERT_TRUE(eventually([&] { return stats(sim->port())["client_disconnects"] == 2; }, 2s));
    auto s = stats(sim->port());
    EXPECT_EQ(s["active_requests"], 0);
    EXPECT_EQ(s["per_model"]["m"]["busy_slots"], 0);
}

TEST(SimFaults, StatsShape) {
    auto sim = start_sim();
    call(sim->port(), "POST", "/v1/chat/completions", chat("x"));
    auto s = stats(sim->port());
    for (const char* k : {"requests", "connections_accepted", "open_connections", "active_requests", "completed",
                          "client_disconnects", "loads", "unloads"})
        EXPECT_TRUE(s[k].is_number_integer()) << k;
    EXPECT_EQ(s["requests"], 1);
    EXPECT_EQ(s["completed"], 1);
    EXPECT_EQ(s["loads"], 1);
    EXPECT_EQ(s["active_requests"], 0);
    EXPECT_EQ(s["per_model"]["sim"]["requests"], 1);
    // the first connection's close reaches the sim a moment after the client closed it
    EXPECT_TRUE(eventually([&] { return stats(sim->port())["open_connections"] == 1; }, 2s));
}
