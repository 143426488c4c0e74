// The proxy's own answers: endpoints, validation errors, limits, auth.
#include "fixture.hpp"

#include <fstream>
#include <thread>

namespace swapgate::test {
namespace {

json error_of(const http_response& r) {
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.contains("error")) << r.body;
    return j["error"];
}

struct ServerTest : ::testing::Test {
    scripted_upstream up;
    std::unique_ptr<child> proxy;
    void SetUp() override {
        up.push({{{http_reply(200, "application/json", R"({"ok":1})"), {}}}});
        proxy = start_proxy(one_model_config(url_of(up.port())) +
                            "  - name: other\n    backend: up\n    tier: complex\n"
                            "limits:\n  max_body_size: 4KiB\n  max_header_size: 2KiB\n"
                            "  request_read_timeout: 400ms\n  idle_timeout: 300ms\n");
    }
};

TEST_F(ServerTest, ModelsListsNamesAndAliases) {
    http_client c(proxy->port());
    auto r = c.request("GET", "/v1/models");
    ASSERT_EQ(r.status, 200);
    auto j = json::parse(r.body);
    EXPECT_EQ(j["object"], "list");
    std::vector<std::string> ids;
    for (auto& m : j["data"]) {
        ids.push_back(m["id"]);
        EXPECT_EQ(m["object"], "model");
        EXPECT_TRUE(m["created"].is_number_integer());
        EXPECT_EQ(m["owned_by"], "up");
    }
    EXPECT_EQ(ids, (std::vector<std::string>{"m", "fast", "other"}));
    auto one = c.request("GET", "/v1/models/fast");
    EXPECT_EQ(one.status, 200);
    EXPECT_EQ(json::parse(one.body)["alias_of"], "m");
    EXPECT_EQ(c.request("GET", "/v1/models/nope").status, 404);
}

TEST_F(ServerTest, UnknownModelIs404ModelNotFound) {
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", chat_body("gpt-17", false));
    EXPECT_EQ(r.status, 404);
    auto e = error_of(r);
    EXPECT_EQ(e["code"], "model_not_found");
    EXPECT_EQ(e["param"], "model");
    EXPECT_EQ(e["type"], "invalid_request_error");
    EXPECT_NE(e["message"].get<std::string>().find("gpt-17"), std::string::npos);
    EXPECT_EQ(up.requests().size(), 0u);
}

TEST_F(ServerTest, BadJsonAndBadFieldsNameTheField) {
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", "{\"model\": \"m\", ");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r)["code"], "invalid_json");

    r = c.request("POST", "/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}]})");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r)["param"], "model");

    r = c.request("POST", "/v1/chat/completions", R"({"model":"m","messages":[{"role":"user","content":"x"},{"content":"y"}]})");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r)["param"], "messages[1].role");

    r = c.request("POST", "/v1/chat/completions", R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r)["param"], "stream");

    r = c.request("POST", "/v1/embeddings", R"({"model":"m","input":[{"a":1}]})");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r)["param"], "input[0]");

    r = c.request("POST", "/v1/completions", R"({"model":"m"})");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r)["param"], "prompt");
    EXPECT_EQ(up.requests().size(), 0u);
    // The connection survived all of that.
    EXPECT_EQ(c.request("GET", "/healthz").status, 200);
}

TEST_F(ServerTest, UnknownPathAndWrongMethod) {
    http_client c(proxy->port());
    auto r = c.request("GET", "/v1/nothing-here");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(error_of(r)["code"], "unknown_url");
    r = c.request("GET", "/v1/chat/completions");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(error_of(r)["code"], "method_not_allowed");
}

TEST_F(ServerTest, OversizedBodyIs413BeforeAnyUpstreamTraffic) {
    http_client c(proxy->port());
    std::string big(8000, 'x');
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false, "\"pad\":\"" + big + "\""));
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(error_of(r)["code"], "request_too_large");
    EXPECT_EQ(up.requests().size(), 0u);
}

TEST_F(ServerTest, OversizedChunkedBodyIs413) {
    http_client c(proxy->port());
    std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    std::string chunk(3000, 'a');
    c.send_raw(head + "bb8\r\n" + chunk + "\r\nbb8\r\n" + chunk + "\r\n0\r\n\r\n");
    auto r = c.read_head();
    EXPECT_EQ(r.status, 413);
}

TEST_F(ServerTest, OversizedHeadersAre431) {
    http_client c(proxy->port());
    auto r = c.request("GET", "/v1/models", "", {{"X-Big", std::string(4000, 'h')}});
    EXPECT_EQ(r.status, 431);
    EXPECT_EQ(error_of(r)["code"], "headers_too_large");
}

TEST_F(ServerTest, SlowClientIsCutOffAtTheReadDeadline) {
    http_client c(proxy->port());
    // A few header bytes, then silence: the connection must not be held.
    c.send_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n");
    EXPECT_TRUE(c.wait_closed(std::chrono::seconds(5)));
}

TEST_F(ServerTest, DripFeedingClientIsCutOffToo) {
    http_client c(proxy->port());
    std::string req = "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(200, 'p') + "\r\n\r\n";
    auto start = std::chrono::steady_clock::now();
    bool closed = false;
    for (char ch : req) {
        try {
            c.send_raw(std::string(1, ch));
        } catch (const std::exception&) {
            closed = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (std::chrono::steady_clock::now() - start > std::chrono::seconds(5)) break;
    }
    // 1 byte every 10 ms never completes the request within 400 ms: 408 or a close.
    if (!closed) {
        try {
            auto r = c.read_head();
            EXPECT_EQ(r.status, 408);
        } catch (const std::exception&) {
        }
    }
    EXPECT_TRUE(closed || c.wait_closed(std::chrono::seconds(5)));
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
    http_client c(proxy->port());
    EXPECT_EQ(c.request("GET", "/healthz").status, 200);
    EXPECT_TRUE(c.wait_closed(std::chrono::seconds(5)));
}

TEST_F(ServerTest, HealthReadyAndMetrics) {
    http_client c(proxy->port());
    EXPECT_EQ(c.request("GET", "/healthz").status, 200);
    EXPECT_EQ(c.request("GET", "/readyz").status, 200);
    ASSERT_EQ(c.request("POST", "/v1/chat/completions", chat_body("m", false)).status, 200);
    auto r = c.request("GET", "/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.header("content-type").find("text/plain"), std::string::npos);
    EXPECT_NE(r.body.find(R"(swapgate_requests_total{endpoint="chat",model="m",backend="up",status="200"} 1)"),
              std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("swapgate_request_duration_seconds_bucket{endpoint=\"chat\",model=\"m\",le=\"+Inf\"} 1"),
              std::string::npos);
    EXPECT_NE(r.body.find("swapgate_time_to_first_byte_seconds_count"), std::string::npos);
    EXPECT_NE(r.body.find("swapgate_open_connections 1"), std::string::npos);
}

TEST_F(ServerTest, ExpectContinueIsHonoured) {
    http_client c(proxy->port());
    std::string body = chat_body("m", false);
    c.send_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n");
    c.send_raw(body);
    auto r = c.read_head();  // skips the interim 100
    EXPECT_EQ(r.status, 200);
}

TEST_F(ServerTest, RequestLogIsOneJsonLinePerRequest) {
    http_client c(proxy->port());
    ASSERT_EQ(c.request("POST", "/v1/chat/completions", chat_body("fast", false), {{"X-Request-Id", "abc-1"}}).status,
              200);
    ASSERT_TRUE(eventually([&] { return proxy->output().find("\"request_id\":\"abc-1\"") != std::string::npos; }));
    std::string out = proxy->output();
    auto start = out.rfind('\n', out.find("\"request_id\":\"abc-1\"")) + 1;
    auto line = json::parse(out.substr(start, out.find('\n', start) - start));
    EXPECT_EQ(line["model"], "fast");
    EXPECT_EQ(line["backend"], "up");
    EXPECT_EQ(line["upstream_model"], "upstream-m");
    EXPECT_EQ(line["status"], 200);
    EXPECT_TRUE(line["duration_ms"].is_number());
    EXPECT_TRUE(line["ttfb_ms"].is_number());
}

TEST(Auth, KeysAreRequiredAndNothingReachesTheBackendWithoutOne) {
    scripted_upstream up;
    up.push({{{http_reply(200, "application/json", "{}"), {}}}});
    auto proxy = start_proxy(one_model_config(url_of(up.port()), "", "auth:\n  api_keys: [k-one, \"${SG_TEST_KEY:-k-two}\"]\n"));
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false));
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "invalid_api_key");
    r = c.request("POST", "/v1/chat/completions", chat_body("m", false), {{"Authorization", "Bearer wrong"}});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(c.request("GET", "/v1/models").status, 401);
    EXPECT_EQ(up.connections(), 0);
    EXPECT_EQ(c.request("POST", "/v1/chat/completions", chat_body("m", false), {{"Authorization", "Bearer k-one"}}).status,
              200);
    EXPECT_EQ(c.request("POST", "/v1/chat/completions", chat_body("m", false), {{"Authorization", "Bearer k-two"}}).status,
              200);
    EXPECT_EQ(c.request("GET", "/healthz").status, 200);  // probes need no key
}

TEST(Backends, DownBackendIs502NamingItAndWhy) {
    auto proxy = start_proxy(one_model_config("http://127.0.0.1:1/v1"));
    http_client c(proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false));
    EXPECT_EQ(r.status, 502);
    auto e = json::parse(r.body)["error"];
    EXPECT_EQ(e["code"], "upstream_unreachable");
    std::string msg = e["message"];
    EXPECT_NE(msg.find("'up'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
}

TEST(Config, InvalidConfigExitsWithTheKeyPath) {
    std::string dir = temp_dir();
    write_file(dir + "/bad.yaml", "listen: 127.0.0.1:0\nbackends:\n  a: {url: ftp://x}\nmodels:\n  - {name: m, backend: b}\n");
    std::string cmd = std::string(SWAPGATE_BIN) + " check-config " + dir + "/bad.yaml > " + dir + "/out.txt 2>&1";
    int rc = std::system(cmd.c_str());
    EXPECT_NE(rc, 0);
    std::ifstream in(dir + "/out.txt");
    std::string out((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NE(out.find("backends.a.url"), std::string::npos) << out;
    EXPECT_NE(out.find("models[0].backend: unknown backend 'b'"), std::string::npos) << out;
}

}  // namespace
}  // namespace swapgate::test

namespace swapgate::test {
namespace {

TEST_F(ServerTest, GarbageNeverCrashesOrHangsTheServer) {
    const std::vector<std::string> junk = {
        std::string("\x00\x01\x02\xff\xfe\r\n\r\n", 9),
        "GET\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        "GET /" + std::string(3000, 'a') + " HTTP/1.1\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "G\xc3\xa9T / HTTP/1.1\r\n\r\n",
        "POST /v1/embeddings HTTP/1.1\r\nContent-Length: 5\r\n\r\n\xff\xfe\x00\x01\x02",
    };
    for (const auto& j : junk) {
        http_client c(proxy->port(), std::chrono::seconds(5));
        c.send_raw(j);
        // Either an error response or a close, within the read deadline; never a hang.
        try {
            auto r = c.read_head();
            EXPECT_GE(r.status, 400) << j;
        } catch (const std::exception&) {
        }
    }
    // JSON that is valid but hostile: deep nesting, huge numbers, odd unicode.
    http_client c(proxy->port());
    std::string deep = std::string(1500, '[') + std::string(1500, ']');
    auto r = c.request("POST", "/v1/chat/completions", "{\"model\":\"m\",\"messages\":" + deep + "}");
    EXPECT_EQ(r.status, 400);
    r = c.request("POST", "/v1/chat/completions", R"({"model":"\ud800","messages":[{"role":"user","content":1e999}]})");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(c.request("GET", "/healthz").status, 200);
    EXPECT_EQ(proxy->wait_exit(std::chrono::milliseconds(10)), -1);  // still running
}

}  // namespace
}  // namespace swapgate::test

namespace swapgate::test {
namespace {

TEST_F(ServerTest, HeadGetsTheHeadOnlyAndKeepsTheConnectionUsable) {
    http_client c(proxy->port());
    c.send("HEAD", "/healthz");
    auto h = c.read_head();
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.header("content-length"), "15");  // the GET body's length, but no body follows
    EXPECT_EQ(c.request("GET", "/healthz").body, R"({"status":"ok"})");
    auto r = c.request("GET", "/v1/chat/completions");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("allow"), "POST");
}

TEST_F(ServerTest, ClientTextNeverBecomesAMetricLabel) {
    http_client c(proxy->port());
    EXPECT_EQ(c.request("POST", "/v1/chat/completions", chat_body("made-up-model-xyz", false)).status, 404);
    EXPECT_EQ(c.request("POST", "/v1/chat/completions", chat_body("fast", false)).status, 200);
    auto m = c.request("GET", "/metrics").body;
    EXPECT_EQ(m.find("made-up-model-xyz"), std::string::npos);
    EXPECT_NE(m.find(R"(swapgate_requests_total{endpoint="chat",model="unknown",backend="",status="404"} 1)"),
              std::string::npos)
        << m;
    // An alias is counted under the model's configured name.
    EXPECT_NE(m.find(R"(swapgate_requests_total{endpoint="chat",model="m",backend="up",status="200"} 1)"),
              std::string::npos)
        << m;
}

}  // namespace
}  // namespace swapgate::test
