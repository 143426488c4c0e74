// Byte-faithful relaying, checked against a scripted upstream on loopback.
#include "fixture.hpp"

namespace swapgate::test {
namespace {

TEST(Relay, RewritesOnlyTheModelAndPassesEverythingElseUntouched) {
    scripted_upstream up;
    up.push({{{http_reply(200, "application/json", R"({"ok":true})"), {}}}});
    auto proxy = start_proxy(one_model_config(url_of(up.port())));
    // Odd but valid JSON: key order, number spellings, escapes, vendor extras, whitespace.
    std::string body =
        "{ \"temperature\" : 1.0e0, \"model\":\"fast\",\n \"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9llo \\\"q\\\"\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}],"
        "\"response_format\":{\"type\":\"json_object\"},\"logprobs\":true,\"x_vendor\":{\"k\":[1,2.50,-0]} }";
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", body, {{"Authorization", "Bearer client-secret"}});
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"ok":true})");
    auto reqs = up.requests();
    ASSERT_EQ(reqs.size(), 1u);
    std::string expected = body;
    expected.replace(expected.find("\"fast\""), 6, "\"upstream-m\"");
    EXPECT_EQ(request_body(reqs[0]), expected);
    EXPECT_EQ(reqs[0].rfind("POST /v1/chat/completions HTTP/1.1\r\n", 0), 0u);
    // The client's key is swapgate's business: it never reaches the backend.
    EXPECT_EQ(reqs[0].find("client-secret"), std::string::npos);
}

TEST(Relay, SendsTheBackendKeyAndTheRequestId) {
    scripted_upstream up;
    up.push({{{http_reply(200, "application/json", "{}"), {}}}});
    auto proxy = start_proxy(one_model_config(url_of(up.port()), "    api_key: sk-backend-123\n"));
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false), {{"X-Request-Id", "req-42"}});
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-request-id"), "req-42");
    auto reqs = up.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_NE(reqs[0].find("Authorization: Bearer sk-backend-123\r\n"), std::string::npos);
    EXPECT_NE(reqs[0].find("X-Request-Id: req-42\r\n"), std::string::npos);
    // The key never shows up in swapgate's own output.
    EXPECT_EQ(proxy->output().find("sk-backend-123"), std::string::npos);
}

TEST(Relay, UpstreamErrorsPassThroughUnchanged) {
    scripted_upstream up;
    std::string err = R"({"error":{"message":"slow down","type":"rate_limit","code":"rl"}})";
    up.push({{{http_reply(429, "application/json", err, "Retry-After: 7\r\nx-ratelimit-remaining-requests: 0\r\n"), {}}}});
    auto proxy = start_proxy(one_model_config(url_of(up.port())));
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false));
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.body, err);
    EXPECT_EQ(r.header("retry-after"), "7");
    EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), "0");
}

TEST(Relay, StreamIsByteFaithfulAcrossSplitsCrlfAndComments) {
    scripted_upstream up;
    // Events split mid-line across TCP writes, CRLF line ends, a comment ping,
    // a usage-only chunk with empty choices, and [DONE].
    std::string events =
        ": ping\r\n\r\n"
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n"
        "data: [DONE]\n\n";
    std::vector<std::string> pieces;
    for (size_t i = 0; i < events.size(); i += 17) pieces.push_back(events.substr(i, 17));
    scripted_upstream::reply rep;
    rep.parts.push_back({sse_head, {}});
    for (const auto& p : pieces) rep.parts.push_back({chunked({p}), std::chrono::milliseconds(2)});
    rep.parts.push_back({"0\r\n\r\n", {}});
    up.push(rep);
    auto proxy = start_proxy(one_model_config(url_of(up.port())));
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/chat/completions",
                       chat_body("m", true, R"("stream_options":{"include_usage":true})"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "text/event-stream");
    EXPECT_EQ(r.header("transfer-encoding"), "chunked");
    EXPECT_EQ(r.body, events);
    // The usage the backend reported lands in the request log.
    EXPECT_TRUE(eventually([&] { return proxy->output().find("\"completion_tokens\":2") != std::string::npos; }));
}

TEST(Relay, StreamCutOffMidEventEndsWithAnErrorEvent) {
    scripted_upstream up;
    std::string first = "data: {\"choices\":[{\"delta\":{\"content\":\"one\"}}]}\n\n";
    scripted_upstream::reply rep;
    rep.parts.push_back({sse_head + chunked({first, "data: {\"choices\":[{\"del"}), {}});
    rep.close_after = true;  // the backend dies mid-event
    up.push(rep);
    auto proxy = start_proxy(one_model_config(url_of(up.port())));
    http_client c(proxy->port());
    c.send("POST", "/v1/chat/completions", chat_body("m", true));
    auto head = c.read_head();
    ASSERT_EQ(head.status, 200);
    auto events = c.read_sse_events();  // ends at the terminating chunk: a clean end
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ("data: " + events[0] + "\n\n", first);
    auto err = json::parse(events[1]);
    EXPECT_EQ(err["error"]["code"], "upstream_disconnected");
    EXPECT_NE(err["error"]["message"].get<std::string>().find("'up'"), std::string::npos);
    // The half event was not leaked to the client.
    EXPECT_EQ(events[1].find("\"del"), std::string::npos);
}

TEST(Relay, PooledConnectionIsReusedAndAStaleOneRetried) {
    scripted_upstream up;
    // First reply closes the connection after answering (as a server with a short
    // keep-alive would); the pooled connection is then stale and must be replaced.
    scripted_upstream::reply closing{{{http_reply(200, "application/json", R"({"n":1})"), {}}}, true};
    up.push(closing);
    up.push({{{http_reply(200, "application/json", R"({"n":2})"), {}}}});
    auto proxy = start_proxy(one_model_config(url_of(up.port())));
    http_client c(proxy->port());
    EXPECT_EQ(c.request("POST", "/v1/chat/completions", chat_body("m", false)).body, R"({"n":1})");
    EXPECT_EQ(c.request("POST", "/v1/chat/completions", chat_body("m", false)).body, R"({"n":2})");
    EXPECT_EQ(c.request("POST", "/v1/chat/completions", chat_body("m", false)).body, R"({"n":2})");
    EXPECT_EQ(c.request("POST", "/v1/chat/completions", chat_body("m", false)).body, R"({"n":2})");
    EXPECT_EQ(up.requests().size(), 4u);
    EXPECT_EQ(up.connections(), 2);  // one fresh after the close, then reused
}

TEST(Relay, EmbeddingsAndCompletionsGoToTheirPaths) {
    scripted_upstream up;
    up.push({{{http_reply(200, "application/json", "{}"), {}}}});
    auto proxy = start_proxy(one_model_config(url_of(up.port())));
    http_client c(proxy->port());
    EXPECT_EQ(c.request("POST", "/v1/embeddings", R"({"model":"m","input":["a","b"]})").status, 200);
    EXPECT_EQ(c.request("POST", "/v1/completions", R"({"model":"m","prompt":"x"})").status, 200);
    auto reqs = up.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].rfind("POST /v1/embeddings ", 0), 0u);
    EXPECT_EQ(request_body(reqs[0]), R"({"model":"upstream-m","input":["a","b"]})");
    EXPECT_EQ(reqs[1].rfind("POST /v1/completions ", 0), 0u);
}

}  // namespace
}  // namespace swapgate::test

namespace swapgate::test {
namespace {

TEST(Relay, OldLlamaServerErrorFieldBecomesADataErrorEvent) {
    scripted_upstream up;
    std::string events = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
                         "error: {\"code\":500,\"message\":\"context overflow\",\"type\":\"server_error\"}\n\n"
                         "data: [DONE]\n\n";
    up.push({{{sse_head + chunked({events}) + "0\r\n\r\n", {}}}});
    auto proxy = start_proxy(one_model_config(url_of(up.port())));
    http_client c(proxy->port());
    c.send("POST", "/v1/chat/completions", chat_body("m", true));
    ASSERT_EQ(c.read_head().status, 200);
    auto got = c.read_sse_events();
    ASSERT_EQ(got.size(), 3u);
    auto err = json::parse(got[1]);
    EXPECT_EQ(err["error"]["message"], "context overflow");
    EXPECT_EQ(got[2], "[DONE]");
}

}  // namespace
}  // namespace swapgate::test
