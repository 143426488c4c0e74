// Coalescing (proxy/coalesce.hpp): identical cache-eligible requests in flight
// at once make one upstream call. Scripted upstreams pause between the parts of
// their answer, so callers provably overlap and a late caller provably joins a
// stream that has already begun; swapgate-sim for a many-caller run.
#include "cache_fixture.hpp"

#include <future>
#include <thread>

namespace swapgate::test {
namespace {

using namespace std::chrono_literals;

// Eligible for the cache (temperature 0), hence for coalescing.
std::string det_body(bool stream, const std::string& prompt = "hello there", const std::string& extra = "") {
    std::string b = R"({"model":"m","temperature":0,"messages":[{"role":"user","content":")" + prompt + R"("}])";
    if (stream) b += R"(,"stream":true)";
    if (!extra.empty()) b += "," + extra;
    return b + "}";
}

std::string chunk_event(const std::string& payload) { return "data: " + payload + "\n\n"; }

std::string content_chunk(const std::string& text) {
    return R"({"id":"c1","object":"chat.completion.chunk","model":"upstream-m","choices":[{"index":0,"delta":{"content":")" +
           text + R"("},"finish_reason":null}]})";
}

std::string finish_chunk() {
    return R"({"id":"c1","object":"chat.completion.chunk","model":"upstream-m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})";
}

// A stream: "Hel" at once, then after `gap` "lo", then after `gap` the end.
scripted_upstream::reply slow_stream(std::chrono::milliseconds gap) {
    scripted_upstream::reply r;
    r.parts.push_back({sse_head + chunked({chunk_event(content_chunk("Hel"))}), gap});
    r.parts.push_back({chunked({chunk_event(content_chunk("lo"))}), gap});
    r.parts.push_back({chunked({chunk_event(finish_chunk()), "data: [DONE]\n\n"}) + "0\r\n\r\n", 0ms});
    return r;
}

std::string completion(const std::string& text) {
    return R"({"id":"x1","object":"chat.completion","model":"upstream-m","choices":[{"index":0,"message":{"role":"assistant","content":")" +
           text + R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})";
}

// A whole answer whose head comes at once and whose body comes after `gap`.
scripted_upstream::reply slow_whole(int status, const std::string& body, std::chrono::milliseconds gap) {
    std::string all = http_reply(status, "application/json", body);
    auto split = all.find("\r\n\r\n") + 4;
    scripted_upstream::reply r;
    r.parts.push_back({all.substr(0, split), gap});
    r.parts.push_back({all.substr(split), 0ms});
    return r;
}

std::string config(int upstream_port, const std::string& top = "") {
    // No retries: a failure must reach the callers as it is.
    return top + "routing:\n  fallback:\n    retries: 0\n" + one_model_config(url_of(upstream_port));
}

// The data payloads of one streamed answer read to its end.
std::vector<std::string> read_stream(http_client& c) { return c.read_sse_events(); }

double metric_of(int port, const std::string& series) {
    http_client c(port);
    return cache::metric(c.request("GET", "/metrics").body, series);
}

TEST(Coalesce, NonStreamCallersShareOneUpstreamCall) {
    scripted_upstream up;
    up.push(slow_whole(200, completion("shared answer"), 1500ms));
    auto proxy = start_proxy(config(up.port()));
    const int callers = 4;
    std::vector<std::future<http_response>> answers;
    for (int i = 0; i < callers; ++i)
        answers.push_back(std::async(std::launch::async, [&] {
            http_client c(proxy->port());
            return c.request("POST", "/v1/chat/completions", det_body(false));
        }));
    int joined = 0;
    std::string first_body;
    for (auto& a : answers) {
        auto r = a.get();
        ASSERT_EQ(r.status, 200) << r.body << "\n" << proxy->output();
        auto j = json::parse(r.body);
        EXPECT_EQ(j["choices"][0]["message"].value("content", ""), "shared answer") << r.body;
        if (first_body.empty()) first_body = r.body;
        EXPECT_EQ(r.body, first_body);
        EXPECT_EQ(r.header("x-swapgate-cache"), "miss");
        joined += r.header("x-swapgate-coalesced") == "joined";
    }
    EXPECT_EQ(up.requests().size(), 1u) << "identical requests in flight made more than one upstream call";
    EXPECT_EQ(joined, callers - 1);
    EXPECT_EQ(metric_of(proxy->port(), R"(swapgate_coalesced_requests_total{model="m"})"), callers - 1);
}

TEST(Coalesce, LateStreamCallerGetsTheChunksAlreadySentThenTheLiveOnes) {
    scripted_upstream up;
    up.push(slow_stream(1500ms));
    auto proxy = start_proxy(config(up.port()));

    http_client first(proxy->port());
    first.send("POST", "/v1/chat/completions", det_body(true));
    auto h1 = first.read_head();
    ASSERT_EQ(h1.status, 200);
    EXPECT_EQ(h1.header("x-swapgate-coalesced"), "");
    auto c1 = first.read_chunk();  // "Hel" has reached the first caller
    ASSERT_TRUE(c1);
    ASSERT_NE(c1->find("Hel"), std::string::npos) << *c1;

    http_client late(proxy->port());
    late.send("POST", "/v1/chat/completions", det_body(true));
    auto h2 = late.read_head();
    ASSERT_EQ(h2.status, 200);
    EXPECT_EQ(h2.header("x-swapgate-coalesced"), "joined");
    EXPECT_EQ(h2.header("content-type"), "text/event-stream");
    auto ev2 = read_stream(late);
    auto rest1 = read_stream(first);

    std::vector<std::string> want{content_chunk("Hel"), content_chunk("lo"), finish_chunk(), "[DONE]"};
    EXPECT_EQ(ev2, want);
    std::vector<std::string> all1{content_chunk("Hel")};
    all1.insert(all1.end(), rest1.begin(), rest1.end());
    EXPECT_EQ(all1, want);
    EXPECT_EQ(up.requests().size(), 1u);

    // Stored once complete: the next identical request is a cache hit.
    http_client again(proxy->port());
    again.send("POST", "/v1/chat/completions", det_body(true));
    auto r = again.read_head();
    EXPECT_EQ(r.header("x-swapgate-cache"), "hit");
    auto replayed = read_stream(again);
    ASSERT_EQ(replayed.size(), want.size());
    EXPECT_NE(replayed[0].find(R"("content":"Hel")"), std::string::npos) << replayed[0];
    EXPECT_NE(replayed[1].find(R"("content":"lo")"), std::string::npos) << replayed[1];
    EXPECT_EQ(up.requests().size(), 1u);
}

TEST(Coalesce, FirstCallerLeavingDoesNotStopTheCallForTheOthers) {
    scripted_upstream up;
    up.push(slow_stream(1000ms));
    auto proxy = start_proxy(config(up.port()));
    auto first = std::make_unique<http_client>(proxy->port());
    first->send("POST", "/v1/chat/completions", det_body(true));
    ASSERT_EQ(first->read_head().status, 200);
    ASSERT_TRUE(first->read_chunk());

    http_client second(proxy->port());
    second.send("POST", "/v1/chat/completions", det_body(true));
    ASSERT_EQ(second.read_head().status, 200);
    first->close();  // the caller that started the call leaves
    first.reset();

    auto events = read_stream(second);
    std::vector<std::string> want{content_chunk("Hel"), content_chunk("lo"), finish_chunk(), "[DONE]"};
    EXPECT_EQ(events, want);
    EXPECT_EQ(up.requests().size(), 1u);
    auto page = [&] {
        http_client c(proxy->port());
        return c.request("GET", "/metrics").body;
    }();
    EXPECT_EQ(cache::metric(page, R"(swapgate_stream_ends_total{reason="done"})"), 1) << page;
    EXPECT_EQ(cache::metric(page, R"(swapgate_stream_ends_total{reason="client_gone"})"), 0) << page;
}

TEST(Coalesce, WhenEveryCallerLeavesTheUpstreamCallIsAborted) {
    scripted_upstream up;
    up.push(slow_stream(3000ms));
    auto proxy = start_proxy(config(up.port()));
    {
        http_client a(proxy->port()), b(proxy->port());
        a.send("POST", "/v1/chat/completions", det_body(true));
        ASSERT_EQ(a.read_head().status, 200);
        b.send("POST", "/v1/chat/completions", det_body(true));
        ASSERT_EQ(b.read_head().status, 200);
        a.close();
        b.close();
    }
    // Well before the upstream's next part (3 s): the call was cut.
    bool cut = eventually(
        [&] {
            return metric_of(proxy->port(), R"(swapgate_stream_ends_total{reason="client_gone"})") == 1;
        },
        2500ms);
    EXPECT_TRUE(cut) << proxy->output();
    // A new identical request is not joined to the abandoned call.
    http_client c(proxy->port());
    c.send("POST", "/v1/chat/completions", det_body(true));
    auto h = c.read_head();
    EXPECT_EQ(h.header("x-swapgate-coalesced"), "");
    c.close();
    EXPECT_EQ(up.requests().size(), 2u);
}

TEST(Coalesce, AnErrorReachesEveryCaller) {
    scripted_upstream up;
    // A stream the backend breaks off after its first content delta.
    scripted_upstream::reply broken;
    broken.parts.push_back({sse_head + chunked({chunk_event(content_chunk("Hel"))}), 1000ms});
    broken.close_after = true;
    up.push(broken);
    auto proxy = start_proxy(config(up.port()));
    http_client a(proxy->port());
    a.send("POST", "/v1/chat/completions", det_body(true));
    ASSERT_EQ(a.read_head().status, 200);
    http_client b(proxy->port());
    b.send("POST", "/v1/chat/completions", det_body(true));
    auto hb = b.read_head();
    ASSERT_EQ(hb.status, 200);
    EXPECT_EQ(hb.header("x-swapgate-coalesced"), "joined");
    for (auto* c : {&a, &b}) {
        auto ev = read_stream(*c);
        ASSERT_FALSE(ev.empty());
        auto last = json::parse(ev.back(), nullptr, false);
        ASSERT_TRUE(last.is_object() && last.contains("error")) << ev.back();
        EXPECT_EQ(last["error"].value("code", ""), "upstream_disconnected") << ev.back();
    }
    EXPECT_EQ(up.requests().size(), 1u);

    // A whole-answer error reaches every non-stream caller too (and is not cached).
    scripted_upstream up2;
    up2.push(slow_whole(500, R"({"error":{"message":"boom","type":"server_error"}})", 1000ms));
    auto proxy2 = start_proxy(config(up2.port()));
    auto ask = [&] {
        http_client c(proxy2->port());
        return c.request("POST", "/v1/chat/completions", det_body(false));
    };
    auto f1 = std::async(std::launch::async, ask);
    auto f2 = std::async(std::launch::async, ask);
    auto r1 = f1.get(), r2 = f2.get();
    EXPECT_EQ(r1.status, 500) << r1.body;
    EXPECT_EQ(r2.status, 500) << r2.body;
    EXPECT_EQ(r1.body, r2.body);
    EXPECT_EQ(up2.requests().size(), 1u);
}

TEST(Coalesce, OnlyIdenticalEligibleRequestsShare) {
    scripted_upstream up;
    up.push(slow_whole(200, completion("x"), 800ms));
    auto proxy = start_proxy(config(up.port()));
    auto ask = [&](std::string body) {
        http_client c(proxy->port());
        return c.request("POST", "/v1/chat/completions", body);
    };
    // Different prompts, a different form (stream), and a sampled request
    // (temperature 0.7: not cache-eligible) each make their own call.
    std::vector<std::future<http_response>> fs;
    fs.push_back(std::async(std::launch::async, ask, det_body(false, "one")));
    fs.push_back(std::async(std::launch::async, ask, det_body(false, "two")));
    fs.push_back(std::async(std::launch::async, ask,
                            std::string(R"({"model":"m","temperature":0.7,"messages":[{"role":"user","content":"one"}]})")));
    fs.push_back(std::async(std::launch::async, ask,
                            std::string(R"({"model":"m","temperature":0.7,"messages":[{"role":"user","content":"one"}]})")));
    for (auto& f : fs) {
        auto r = f.get();
        EXPECT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.header("x-swapgate-coalesced"), "");
    }
    EXPECT_EQ(up.requests().size(), 4u);
    EXPECT_EQ(metric_of(proxy->port(), R"(swapgate_coalesced_requests_total{model="m"})"), 0);
}

TEST(Coalesce, OffInConfigMeansOneCallPerRequest) {
    scripted_upstream up;
    up.push(slow_whole(200, completion("x"), 800ms));
    auto proxy = start_proxy("routing:\n  coalesce: false\n  fallback:\n    retries: 0\n" + one_model_config(url_of(up.port())));
    auto ask = [&] {
        http_client c(proxy->port());
        return c.request("POST", "/v1/chat/completions", det_body(false));
    };
    auto f1 = std::async(std::launch::async, ask);
    auto f2 = std::async(std::launch::async, ask);
    EXPECT_EQ(f1.get().status, 200);
    EXPECT_EQ(f2.get().status, 200);
    EXPECT_EQ(up.requests().size(), 2u);
}

TEST(Coalesce, ManyIdenticalStreamsAgainstTheSimAreOneCallAndIdentical) {
    auto sim = start_sim();
    auto proxy = start_proxy(config(sim->port()));
    const int callers = 16;
    // 80 tokens 25 ms apart: two seconds of stream for every caller to join.
    std::string body = det_body(true, "tell me a story", R"("sim":{"tokens":80,"token_delay_ms":25})");
    std::vector<std::future<std::pair<std::string, std::vector<std::string>>>> fs;
    for (int i = 0; i < callers; ++i)
        fs.push_back(std::async(std::launch::async, [&] {
            http_client c(proxy->port());
            c.send("POST", "/v1/chat/completions", body);
            auto h = c.read_head();
            return std::make_pair(h.header("x-swapgate-coalesced") + "/" + std::to_string(h.status), read_stream(c));
        }));
    std::vector<std::string> first;
    int joined = 0;
    for (auto& f : fs) {
        auto [how, events] = f.get();
        EXPECT_TRUE(how == "joined/200" || how == "/200") << how;
        joined += how == "joined/200";
        ASSERT_FALSE(events.empty());
        EXPECT_EQ(events.back(), "[DONE]");
        if (first.empty()) first = events;
        EXPECT_EQ(events, first) << "a caller got a different stream";
    }
    EXPECT_EQ(sim_stats(sim->port()).value("requests", -1), 1);
    EXPECT_EQ(joined, callers - 1);
}

}  // namespace
}  // namespace swapgate::test
