// The response cache as wired into the proxy, over real loopback: swapgate in
// front of swapgate-sim (or a scripted upstream), with a real redis-server or the
// in-process store. A hit is proven by the backend's request count not moving.
#include "cache_fixture.hpp"

#include <atomic>
#include <mutex>
#include <thread>

namespace swapgate::test::cache {
namespace {

const std::string chat_path = "/v1/chat/completions";
const std::string embed_path = "/v1/embeddings";
const std::string hdr = "x-swapgate-cache";

// The body of a stream's response as chunked pieces (for scripted upstreams).
std::string chunked(const std::vector<std::string>& pieces) {
    std::string out;
    for (const auto& p : pieces) {
        char size[20];
        std::snprintf(size, sizeof size, "%zx\r\n", p.size());
        out += size + p + "\r\n";
    }
    return out + "0\r\n\r\n";
}
const std::string sse_head =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

// The cache's metric lines, for failure messages.
std::string cache_metrics(const cache_env& env, int port) {
    std::string out, all = env.metrics(port);
    size_t at = 0;
    while (at < all.size()) {
        size_t eol = all.find('\n', at);
        std::string line = all.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
        at = eol == std::string::npos ? all.size() : eol + 1;
        if (line.rfind("swapgate_cache_", 0) == 0) out += line + "\n";
    }
    return out;
}

// Sends `body`; expects 200 with X-Swapgate-Cache `want` and the sim's request
// count moved by `upstream` (0 for a hit). Returns the response.
http_response expect_chat(const cache_env& env, const std::string& body, const std::string& want, long long upstream,
                          const std::map<std::string, std::string>& headers = {}, int port = 0) {
    long long before = env.sim_requests();
    auto r = env.chat(body, headers, port);
    EXPECT_EQ(r.status, 200) << body << "\n" << r.body;
    EXPECT_EQ(r.header(hdr), want) << body << (r.header(hdr) == want ? "" : "\n" + cache_metrics(env, port));
    EXPECT_EQ(env.sim_requests() - before, upstream) << "backend requests for " << body;
    return r;
}

// A miss whose answer must be stored: waits until the entry is in place (see
// cache_env::mark), so the next request can be expected to hit.
http_response store(const cache_env& env, const std::string& body, const std::map<std::string, std::string>& headers = {},
                    int port = 0) {
    auto m = env.mark(port);
    auto r = expect_chat(env, body, "miss", 1, headers, port);
    EXPECT_TRUE(env.wait_stored(m, 1, port)) << "the answer was never stored: " << body;
    return r;
}

// Gives the proxy time to judge a recording it got after the client had its
// answer (a wrong store must land before the next request, or the test could
// not see it): waits until `n` were refused as incomplete, at most 2 s. Not an
// assertion: a proxy that does not offer a broken answer at all is fine too.
void wait_not_complete(const cache_env& env, const std::string& model, int n) {
    eventually(
        [&] {
            return env.metric("swapgate_cache_stores_total{model=\"" + model + "\",outcome=\"not_complete\"}") >= n;
        },
        2s);
}

// The choices of an answer without what differs between calls.
json choices_of(const http_response& r) {
    auto j = body_json(r);
    return j.is_object() && j.contains("choices") ? j["choices"] : json();
}

// ---- 1. hit and miss ----------------------------------------------------------------

void hit_and_miss(cache_env& env, const std::string& store_name) {
    std::string body = det_body("m");
    auto miss = store(env, body);
    auto mj = body_json(miss);
    EXPECT_FALSE(mj.contains("swapgate_cache")) << miss.body;
    auto hit = expect_chat(env, body, "hit", 0);
    auto hj = body_json(hit);
    ASSERT_TRUE(hj.is_object()) << hit.body;
    EXPECT_EQ(hj.value("swapgate_cache", ""), "hit");
    EXPECT_EQ(hj["choices"], mj["choices"]);
    EXPECT_EQ(hj["usage"], mj["usage"]);
    EXPECT_EQ(hj["id"], mj["id"]) << "the stored completion is replayed";
    EXPECT_EQ(hj["model"], mj["model"]);
    // And again: a hit does not consume the entry.
    expect_chat(env, body, "hit", 0);

    auto m = env.metrics();
    EXPECT_EQ(metric(m, R"(swapgate_cache_lookups_total{model="m",result="hit"})"), 2) << m;
    EXPECT_EQ(metric(m, R"(swapgate_cache_lookups_total{model="m",result="miss"})"), 1);
    EXPECT_EQ(metric(m, R"(swapgate_cache_stores_total{model="m",outcome="stored"})"), 1);
    EXPECT_EQ(metric(m, "swapgate_cache_store_up{store=\"" + store_name + "\"}"), 1);

    // A hit needs no backend at all.
    env.sim.reset();
    auto gone = env.chat(body);
    EXPECT_EQ(gone.status, 200) << gone.body;
    EXPECT_EQ(gone.header(hdr), "hit");
    EXPECT_EQ(body_json(gone)["choices"], mj["choices"]);
    EXPECT_EQ(env.chat(det_body("m", "not cached")).status, 502);
}

TEST(Cache, HitAndMissWithRedis) {
    cache_env env;
    hit_and_miss(env, "redis");
    EXPECT_GE(redis_dbsize(env.redis->port()), 1) << "the entry lives in Redis";
}

TEST(Cache, HitAndMissWithTheInProcessStore) {
    cache_env env({.redis = false});
    hit_and_miss(env, "memory");
}

TEST(Cache, TextCompletionsHitToo) {
    cache_env env;
    std::string body = R"({"model":"m","prompt":"Once upon a time","temperature":0})";
    long long before = env.sim_requests();
    auto mark = env.mark();
    auto a = env.post("/v1/completions", body);
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.header(hdr), "miss");
    ASSERT_TRUE(env.wait_stored(mark));
    auto b = env.post("/v1/completions", body);
    ASSERT_EQ(b.status, 200) << b.body;
    EXPECT_EQ(b.header(hdr), "hit");
    EXPECT_EQ(env.sim_requests() - before, 1);
    EXPECT_EQ(choices_of(a), choices_of(b));
    // A chat request is another endpoint: never the text completion's entry.
    expect_chat(env, R"({"model":"m","messages":[{"role":"user","content":"Once upon a time"}],"temperature":0})",
                "miss", 1);
}

// ---- 2. key normalisation, aliases ------------------------------------------------------

TEST(Cache, KeyIgnoresJsonSpellingAndAliasesShareEntries) {
    cache_env env;
    auto first = store(env, det_body("m", "normalise me"));
    const std::vector<std::string> same = {
        // key order (top level and nested), whitespace
        "{ \"temperature\" : 0 ,\n\t\"messages\" : [ { \"content\" : \"normalise me\" , \"role\" : \"user\" } ] ,"
        " \"model\" : \"m\" }",
        // number spellings of zero
        R"({"model":"m","messages":[{"role":"user","content":"normalise me"}],"temperature":0.0})",
        R"({"model":"m","messages":[{"role":"user","content":"normalise me"}],"temperature":0e0})",
        R"({"model":"m","messages":[{"role":"user","content":"normalise me"}],"temperature":-0.0})",
        // string escapes that spell the same text
        R"({"model":"m","messages":[{"role":"user","content":"\u006eormalise\u0020me"}],"temperature":0})",
        // an alias of the same model
        R"({"model":"m-alias","messages":[{"role":"user","content":"normalise me"}],"temperature":0})",
        // a top-level null member is unset
        R"({"model":"m","messages":[{"role":"user","content":"normalise me"}],"temperature":0,"top_p":null})",
    };
    for (const auto& b : same) {
        auto r = expect_chat(env, b, "hit", 0);
        EXPECT_EQ(choices_of(r), choices_of(first)) << b;
    }
}

// ---- 3. what is in the key ----------------------------------------------------------------

TEST(Cache, EveryRequestFieldIsInTheKeyButStreamStreamOptionsAndUser) {
    cache_env env;
    const std::string msg = R"("messages":[{"role":"user","content":"key fields"}])";
    auto body = [&](const std::string& extra) {
        return R"({"model":"m",)" + msg + R"(,"temperature":0,"seed":7)" + (extra.empty() ? "" : "," + extra) + "}";
    };
    std::string base = body("");
    store(env, base);
    expect_chat(env, base, "hit", 0);

    const std::vector<std::pair<std::string, std::string>> differ = {
        {"messages content", R"({"model":"m","messages":[{"role":"user","content":"key fields!"}],"temperature":0,"seed":7})"},
        {"system prompt",
         R"({"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"key fields"}],"temperature":0,"seed":7})"},
        {"tools", body(R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}])")},
        {"tool_choice", body(R"("tool_choice":"none")")},
        {"response_format", body(R"("response_format":{"type":"json_object"})")},
        {"temperature (with seed)", R"({"model":"m",)" + msg + R"(,"temperature":0.5,"seed":7})"},
        {"top_p", body(R"("top_p":0.9)")},
        {"max_tokens", body(R"("max_tokens":5)")},
        {"max_completion_tokens", body(R"("max_completion_tokens":5)")},
        {"stop", body(R"("stop":["zzz"])")},
        {"seed", R"({"model":"m",)" + msg + R"(,"temperature":0,"seed":8})"},
        {"presence_penalty", body(R"("presence_penalty":0.5)")},
        {"frequency_penalty", body(R"("frequency_penalty":0.5)")},
        {"logit_bias", body(R"("logit_bias":{"50256":-100})")},
        {"unknown extra", body(R"("x_vendor_knob":{"k":1})")},
        {"n=1 spelled out", body(R"("n":1)")},
    };
    for (const auto& [what, b] : differ) {
        SCOPED_TRACE(what);
        store(env, b);
        expect_chat(env, b, "hit", 0);  // the variant itself is cacheable
    }
    {
        SCOPED_TRACE("n=2");
        expect_chat(env, body(R"("n":2)"), "bypass", 1);
        expect_chat(env, body(R"("n":2)"), "bypass", 1);
    }
    // Not in the key.
    {
        SCOPED_TRACE("user");
        expect_chat(env, body(R"("user":"someone-else")"), "hit", 0);
    }
    {
        SCOPED_TRACE("stream:false");
        expect_chat(env, body(R"("stream":false)"), "hit", 0);
    }
    {
        SCOPED_TRACE("stream:true");
        auto r = expect_chat(env, body(R"("stream":true)"), "hit", 0);
        auto s = parse_stream(r.body);
        EXPECT_TRUE(s.done) << r.body;
    }
    {
        SCOPED_TRACE("stream_options");
        auto r = expect_chat(env, body(R"("stream":true,"stream_options":{"include_usage":true})"), "hit", 0);
        EXPECT_TRUE(parse_stream(r.body).done) << r.body;
    }
}

// ---- 4. namespaces --------------------------------------------------------------------------

TEST(Cache, NamespaceComesFromTheApiKeyOnly) {
    cache_env env({.auth = "[sk-a, sk-b, sk-c]", .tenants = "{sk-a: team-a, sk-c: team-a}"});
    auto key = [](const std::string& k) { return std::map<std::string, std::string>{{"Authorization", "Bearer " + k}}; };
    std::string body = det_body("m", "tenant question");
    auto a = store(env, body, key("sk-a"));
    expect_chat(env, body, "hit", 0, key("sk-a"));
    // Another key: another namespace, whatever headers claim.
    auto spoof = key("sk-b");
    spoof["X-Swapgate-Tenant"] = "team-a";
    spoof["X-Swapgate-Namespace"] = "tenant:team-a";
    spoof["X-Tenant"] = "team-a";
    auto b = store(env, body, spoof);
    EXPECT_NE(body_json(b)["id"], body_json(a)["id"]);
    // sk-b's own entry (stored by the spoofing request) is under sk-b.
    auto b2 = expect_chat(env, body, "hit", 0, key("sk-b"));
    EXPECT_EQ(body_json(b2)["id"], body_json(b)["id"]);
    // A spoofed header on sk-a's request does not move it out of team-a either.
    auto a_spoof = key("sk-a");
    a_spoof["X-Swapgate-Tenant"] = "someone-else";
    a_spoof["X-Swapgate-Namespace"] = "global";
    auto a2 = expect_chat(env, body, "hit", 0, a_spoof);
    EXPECT_EQ(body_json(a2)["id"], body_json(a)["id"]);
    // sk-c is mapped to the same tenant: it shares sk-a's entries.
    auto c = expect_chat(env, body, "hit", 0, key("sk-c"));
    EXPECT_EQ(body_json(c)["id"], body_json(a)["id"]);
    // No key, no answer (and nothing reaches the backend).
    long long before = env.sim_requests();
    EXPECT_EQ(env.chat(body).status, 401);
    EXPECT_EQ(env.sim_requests(), before);
}

// ---- 5. replay across forms ---------------------------------------------------------------

const std::string weather_tools =
    R"("tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",)"
    R"("properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}}])";

TEST(Cache, StreamStoredReplaysAsNonStreamWithToolCallsAndReasoning) {
    cache_env env;
    std::string base = det_body("m", "weather in two cities", weather_tools + R"(,"sim":{"reasoning_tokens":5})");
    std::string streamed = base.substr(0, base.size() - 1) + R"(,"stream":true})";
    auto s = store(env, streamed);
    auto parts = parse_stream(s.body);
    ASSERT_TRUE(parts.done) << s.body;
    auto original = merge_stream(parts.chunks);
    ASSERT_EQ(original.tools.size(), 1u) << s.body;
    EXPECT_EQ(original.tools[0].name, "get_weather");
    EXPECT_EQ(original.tools[0].id.rfind("call_", 0), 0u);
    EXPECT_TRUE(json::parse(original.tools[0].arguments, nullptr, false).is_object()) << original.tools[0].arguments;
    EXPECT_FALSE(original.reasoning.empty());
    EXPECT_EQ(original.finish_reason, "tool_calls");

    auto hit = expect_chat(env, base, "hit", 0);
    auto hj = body_json(hit);
    EXPECT_EQ(hj.value("swapgate_cache", ""), "hit") << hit.body;
    auto replayed = from_response(hj);
    EXPECT_EQ(replayed, original) << hit.body;
    EXPECT_TRUE(hj["usage"].is_object()) << "a non-stream hit carries the original usage";
    EXPECT_TRUE(hj["choices"][0]["message"]["content"].is_null()) << hit.body;

    // The same answer straight from the backend (deterministic) agrees.
    http_client direct(env.sim->port());
    auto d = direct.request("POST", chat_path, base);
    ASSERT_EQ(d.status, 200);
    EXPECT_EQ(from_response(body_json(d)), original);
}

TEST(Cache, NonStreamStoredReplaysAsStreamWithToolCallsAndReasoning) {
    cache_env env;
    for (std::string extra : {weather_tools + R"(,"sim":{"reasoning_tokens":4})", std::string(R"("sim":{"reasoning_tokens":3})")}) {
        SCOPED_TRACE(extra);
        std::string base = det_body("m", "plain then streamed", extra);
        auto plain = store(env, base);
        auto original = from_response(body_json(plain));
        EXPECT_FALSE(original.reasoning.empty()) << plain.body;
        std::string streamed = base.substr(0, base.size() - 1) + R"(,"stream":true})";
        auto s = expect_chat(env, streamed, "hit", 0);
        auto parts = parse_stream(s.body);
        ASSERT_TRUE(parts.done) << s.body;
        ASSERT_FALSE(parts.parse_error) << s.body;
        EXPECT_EQ(merge_stream(parts.chunks), original) << s.body;
        ASSERT_FALSE(parts.chunks.empty());
        EXPECT_EQ(parts.chunks.back().value("swapgate_cache", ""), "hit") << "the final chunk carries the marker";
        for (size_t i = 0; i + 1 < parts.chunks.size(); ++i)
            EXPECT_FALSE(parts.chunks[i].contains("swapgate_cache")) << parts.chunks[i].dump();
        for (const auto& c : parts.chunks) {
            EXPECT_EQ(c.value("object", ""), "chat.completion.chunk") << c.dump();
            for (const auto& ch : c["choices"]) {
                if (!ch["delta"].contains("tool_calls")) continue;
                for (const auto& tc : ch["delta"]["tool_calls"]) EXPECT_EQ(tc.value("index", -1), 0) << c.dump();
            }
        }
    }
}

TEST(Cache, StreamHitReplaysTheSameEvents) {
    cache_env env;
    std::string body = det_body("m", "stream me twice", R"("stream":true,"sim":{"reasoning_tokens":2})");
    auto first = store(env, body);
    auto second = expect_chat(env, body, "hit", 0);
    EXPECT_EQ(second.header("content-type").rfind("text/event-stream", 0), 0u);
    auto a = parse_stream(first.body), b = parse_stream(second.body);
    ASSERT_TRUE(a.done && b.done) << first.body << "\n----\n" << second.body;
    ASSERT_EQ(a.chunks.size(), b.chunks.size()) << first.body << "\n----\n" << second.body;
    std::vector<std::string> pa, pb;
    for (size_t i = 0; i < a.chunks.size(); ++i) {
        EXPECT_EQ(a.chunks[i]["choices"], b.chunks[i]["choices"]) << "chunk " << i;
        EXPECT_EQ(a.chunks[i]["id"], b.chunks[i]["id"]) << "chunk " << i;
        for (const auto* parts : {&a, &b})
            for (const auto& ch : parts->chunks[i]["choices"]) {
                auto& d = ch["delta"];
                std::string piece = d.contains("content") && d["content"].is_string() ? d["content"].get<std::string>() : "";
                (parts == &a ? pa : pb).push_back(piece);
            }
    }
    EXPECT_EQ(pa, pb);
    EXPECT_EQ(merge_stream(a.chunks), merge_stream(b.chunks));
    EXPECT_EQ(b.chunks.back().value("swapgate_cache", ""), "hit");
}

// A stream with two interleaved tool calls (indexes 0 and 1) and reasoning,
// from a scripted upstream: both replay forms keep every call in its place.
TEST(Cache, InterleavedToolCallIndexesSurviveBothReplayForms) {
    scripted_upstream up;
    const std::string env_ = R"("id":"chatcmpl-x","object":"chat.completion.chunk","created":1700000000,"model":"m")";
    auto chunk = [&](const std::string& delta, const std::string& finish = "null") {
        return "data: {" + env_ + R"(,"choices":[{"index":0,"delta":)" + delta + R"(,"finish_reason":)" + finish +
               "}]}\n\n";
    };
    std::vector<std::string> events = {
        chunk(R"({"role":"assistant","content":null})"),
        chunk(R"({"reasoning_content":"Two cities,"})"),
        chunk(R"({"reasoning_content":" two calls."})"),
        chunk(R"({"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]})"),
        chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]})"),
        chunk(R"({"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}]})"),
        chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]})"),
        chunk(R"({"tool_calls":[{"index":1,"function":{"arguments":"{\"tz\":\"CET\"}"}}]})"),
        chunk("{}", R"("tool_calls")"),
        "data: {" + env_ + R"(,"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}})" + "\n\n",
        "data: [DONE]\n\n",
    };
    up.push({{{sse_head + chunked(events), {}}}});
    cache_env env({.redis = false, .upstream_url = url_of(up.port())});
    std::string body = det_body("m", "two calls", weather_tools + R"(,"stream":true)");
    auto mark = env.mark();
    auto first = env.chat(body);
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(first.header(hdr), "miss");
    EXPECT_TRUE(env.wait_stored(mark));
    auto a = parse_stream(first.body);
    ASSERT_TRUE(a.done) << first.body;
    auto original = merge_stream(a.chunks);
    ASSERT_EQ(original.tools.size(), 2u);
    EXPECT_EQ(original.tools[0], (tool_call{"call_a", "function", "get_weather", R"({"city":"Paris"})"}));
    EXPECT_EQ(original.tools[1], (tool_call{"call_b", "function", "get_time", R"({"tz":"CET"})"}));
    // The proxy asked for usage to store the answer; the client did not: no usage chunk.
    for (const auto& c : a.chunks) EXPECT_FALSE(c["choices"].empty()) << "usage chunk leaked: " << c.dump();
    {
        auto reqs = up.requests();
        ASSERT_EQ(reqs.size(), 1u);
        auto sent = json::parse(request_body(reqs[0]), nullptr, false);
        EXPECT_EQ(sent["stream_options"]["include_usage"], true) << request_body(reqs[0]);
    }

    auto second = env.chat(body);
    EXPECT_EQ(second.header(hdr), "hit");
    auto b = parse_stream(second.body);
    ASSERT_TRUE(b.done) << second.body;
    ASSERT_EQ(b.chunks.size(), a.chunks.size()) << second.body;
    for (size_t i = 0; i < a.chunks.size(); ++i) EXPECT_EQ(b.chunks[i]["choices"], a.chunks[i]["choices"]) << i;

    std::string plain = det_body("m", "two calls", weather_tools);
    auto third = env.chat(plain);
    EXPECT_EQ(third.header(hdr), "hit") << third.body;
    auto tj = body_json(third);
    EXPECT_EQ(from_response(tj), original) << third.body;
    EXPECT_EQ(tj["usage"]["total_tokens"], 21) << third.body;
    ASSERT_TRUE(tj["choices"][0]["message"]["tool_calls"].is_array()) << third.body;
    EXPECT_EQ(tj["choices"][0]["message"]["tool_calls"][0]["id"], "call_a");
    EXPECT_EQ(tj["choices"][0]["message"]["tool_calls"][1]["id"], "call_b");
    EXPECT_EQ(up.requests().size(), 1u) << "both hits were answered without the upstream";
}

// ---- 6. usage chunk ------------------------------------------------------------------------

bool has_usage_chunk(const stream_parts& s) {
    for (const auto& c : s.chunks)
        if (c.contains("choices") && c["choices"].empty() && c.contains("usage") && c["usage"].is_object()) return true;
    return false;
}

TEST(Cache, UsageChunkOnlyWhenTheClientAskedForIt) {
    cache_env env;
    std::string body = det_body("m", "usage please", R"("stream":true)");
    auto miss = store(env, body);
    auto ms = parse_stream(miss.body);
    ASSERT_TRUE(ms.done) << miss.body;
    EXPECT_FALSE(has_usage_chunk(ms)) << "the usage chunk swapgate asked upstream for leaked:\n" << miss.body;

    auto hit = expect_chat(env, body, "hit", 0);
    auto hs = parse_stream(hit.body);
    ASSERT_TRUE(hs.done);
    EXPECT_FALSE(has_usage_chunk(hs)) << hit.body;

    std::string with_usage = det_body("m", "usage please", R"("stream":true,"stream_options":{"include_usage":true})");
    auto hu = expect_chat(env, with_usage, "hit", 0);
    auto us = parse_stream(hu.body);
    ASSERT_TRUE(us.done);
    ASSERT_TRUE(has_usage_chunk(us)) << hu.body;
    EXPECT_TRUE(us.chunks.back()["choices"].empty()) << "the usage chunk is the last one";

    auto plain = expect_chat(env, det_body("m", "usage please"), "hit", 0);
    auto usage = body_json(plain)["usage"];
    ASSERT_TRUE(usage.is_object()) << plain.body;
    EXPECT_GT(usage.value("completion_tokens", 0), 0);
    EXPECT_EQ(merge_stream(us.chunks).usage, usage) << "the same original usage in both forms";

    // A stream stored from a non-stream answer: synthesised usage chunk on request only.
    std::string other = det_body("m", "usage the other way");
    auto o = store(env, other);
    auto ou = expect_chat(env, det_body("m", "usage the other way", R"("stream":true,"stream_options":{"include_usage":true})"),
                          "hit", 0);
    auto os = parse_stream(ou.body);
    ASSERT_TRUE(has_usage_chunk(os)) << ou.body;
    EXPECT_EQ(merge_stream(os.chunks).usage, body_json(o)["usage"]);
    auto on = expect_chat(env, det_body("m", "usage the other way", R"("stream":true)"), "hit", 0);
    EXPECT_FALSE(has_usage_chunk(parse_stream(on.body))) << on.body;
}

// The usage the proxy asked for on the client's behalf should not show at all:
// OpenAI sends `"usage": null` on every chunk only when include_usage was asked.
TEST(Cache, MissStreamCarriesNothingTheClientDidNotAskFor) {
    cache_env env;
    std::string body = det_body("m", "no usage asked", R"("stream":true)");
    auto miss = store(env, body);
    auto hit = expect_chat(env, body, "hit", 0);
    auto a = parse_stream(miss.body), b = parse_stream(hit.body);
    ASSERT_TRUE(a.done && b.done);
    int with_usage = 0;
    std::string example;
    for (const auto& c : a.chunks)
        if (c.contains("usage")) {
            ++with_usage;
            example = c.dump();
        }
    EXPECT_EQ(with_usage, 0) << "chunks with a \"usage\" member the client never asked for, e.g. " << example;
    ASSERT_EQ(a.chunks.size(), b.chunks.size());
    for (size_t i = 0; i < a.chunks.size(); ++i) {
        json replayed = b.chunks[i];
        replayed.erase("swapgate_cache");
        if (a.chunks[i] != replayed) {
            ADD_FAILURE() << "the miss and its replay differ from chunk " << i << ":\n  miss:   " << a.chunks[i].dump()
                          << "\n  replay: " << replayed.dump();
            break;
        }
    }
}

// The same with a backend that writes JSON the way Python's json.dumps does
// (", " and ": " separators): the injected usage still does not show.
TEST(Cache, InjectedUsageIsHiddenWhateverTheBackendsJsonSpacing) {
    scripted_upstream up;
    const std::string env_ = R"("id": "chatcmpl-y", "object": "chat.completion.chunk", "created": 1700000000, "model": "m")";
    auto chunk = [&](const std::string& delta, const std::string& finish = "null") {
        return "data: {" + env_ + R"(, "choices": [{"index": 0, "delta": )" + delta + R"(, "finish_reason": )" + finish +
               R"(}], "usage": null})" + "\n\n";
    };
    std::vector<std::string> events = {
        chunk(R"({"role": "assistant", "content": ""})"),
        chunk(R"({"content": "Hello"})"),
        chunk(R"({"content": " there"})"),
        chunk("{}", R"("stop")"),
        "data: {" + env_ + R"(, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})" +
            "\n\n",
        "data: [DONE]\n\n",
    };
    up.push({{{sse_head + chunked(events), {}}}});
    cache_env env({.redis = false, .upstream_url = url_of(up.port())});
    std::string body = det_body("m", "spaced json", R"("stream":true)");
    auto mark = env.mark();
    auto r = env.chat(body);
    ASSERT_EQ(r.status, 200) << r.body;
    auto s = parse_stream(r.body);
    ASSERT_TRUE(s.done) << r.body;
    EXPECT_FALSE(has_usage_chunk(s)) << r.body;
    int with_usage = 0;
    for (const auto& c : s.chunks) with_usage += c.contains("usage") ? 1 : 0;
    EXPECT_EQ(with_usage, 0) << "\"usage\": null members the client never asked for:\n" << r.body;
    EXPECT_EQ(merge_stream(s.chunks).content, "Hello there");
    // Stored all the same, usage included: a non-stream hit has it.
    ASSERT_TRUE(env.wait_stored(mark));
    auto hit = env.chat(det_body("m", "spaced json"));
    EXPECT_EQ(hit.header(hdr), "hit");
    EXPECT_EQ(body_json(hit)["usage"]["total_tokens"], 5) << hit.body;
}

// ---- 7. incomplete answers are not stored ---------------------------------------------------

TEST(Cache, StreamTheBackendBreaksOffIsNotStored) {
    cache_env env;
    std::string body = det_body("m", "die midway", R"("stream":true,"sim":{"tokens":10,"die_after_tokens":3})");
    for (int i = 0; i < 2; ++i) {
        auto r = expect_chat(env, body, "miss", 1);
        auto s = parse_stream(r.body);
        EXPECT_FALSE(s.done) << r.body;
        ASSERT_FALSE(s.chunks.empty());
        EXPECT_TRUE(s.chunks.back().contains("error")) << r.body;
        // The recording was judged (and refused) before the next try.
        wait_not_complete(env, "m", i + 1);
    }
    // The same without stream: a 502, not stored either.
    std::string plain = det_body("m", "die midway plain", R"("sim":{"tokens":10,"die_after_tokens":3})");
    for (int i = 0; i < 2; ++i) {
        long long before = env.sim_requests();
        auto r = env.chat(plain);
        EXPECT_EQ(r.status, 502) << r.body;
        // Went upstream again (at least once: the proxy may retry a failed call).
        EXPECT_GE(env.sim_requests() - before, 1);
    }
    EXPECT_EQ(env.metric(R"(swapgate_cache_stores_total{model="m",outcome="stored"})"), 0);
}

TEST(Cache, StalledStreamCutByTheIdleTimeoutIsNotStored) {
    cache_env env({.backend_extra = "    timeouts: {idle: 300ms}\n"});
    std::string body = det_body("m", "stall midway", R"("stream":true,"sim":{"tokens":10,"stall_after_tokens":3})");
    for (int i = 0; i < 2; ++i) {
        auto r = expect_chat(env, body, "miss", 1);
        auto s = parse_stream(r.body);
        EXPECT_FALSE(s.done) << r.body;
        ASSERT_FALSE(s.chunks.empty());
        EXPECT_TRUE(s.chunks.back().contains("error")) << r.body;
        wait_not_complete(env, "m", i + 1);
    }
    EXPECT_EQ(env.metric(R"(swapgate_cache_stores_total{model="m",outcome="stored"})"), 0);
}

TEST(Cache, StreamTheClientLeavesIsNotStored) {
    cache_env env;
    std::string body = det_body("m", "leave midway", R"("stream":true,"sim":{"tokens":12,"token_delay_ms":40})");
    {
        http_client c(env.proxy->port());
        c.send("POST", chat_path, body);
        auto head = c.read_head();
        ASSERT_EQ(head.status, 200);
        EXPECT_EQ(head.header(hdr), "miss");
        ASSERT_TRUE(c.read_chunk().has_value());
        c.close();
    }
    // The proxy notices and gives up the upstream call.
    ASSERT_TRUE(eventually([&] { return sim_stats(env.sim->port())["client_disconnects"].get<long long>() >= 1; }, 10s));
    ASSERT_TRUE(eventually(
        [&] { return env.metric(R"(swapgate_stream_ends_total{reason="client_gone"})") >= 1; }, 10s));
    auto full = store(env, body);
    EXPECT_TRUE(parse_stream(full.body).done) << full.body;
    // Now that one stream was complete, the entry exists.
    expect_chat(env, body, "hit", 0);
}

TEST(Cache, UpstreamErrorsAreNotStored) {
    cache_env env;
    for (std::string extra : {std::string(R"("sim":{"status":500})"), std::string(R"("stream":true,"sim":{"status":500})")}) {
        SCOPED_TRACE(extra);
        std::string body = det_body("m", "fail please", extra);
        for (int i = 0; i < 2; ++i) {
            long long before = env.sim_requests();
            auto r = env.chat(body);
            EXPECT_EQ(r.status, 500) << r.body;
            EXPECT_EQ(r.header(hdr), "miss");
            EXPECT_GE(env.sim_requests() - before, 1) << "went upstream again (retries may add more)";
        }
    }
    EXPECT_EQ(env.metric(R"(swapgate_cache_stores_total{model="m",outcome="stored"})"), 0);
}

TEST(Cache, StreamWithAnErrorChunkIsNotStored) {
    scripted_upstream up;
    std::string events = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":"
                         "{\"role\":\"assistant\",\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n"
                         "data: {\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}\n\n"
                         "data: [DONE]\n\n";
    up.push({{{sse_head + chunked({events}), {}}}});
    cache_env env({.redis = false, .upstream_url = url_of(up.port())});
    std::string body = det_body("m", "error chunk", R"("stream":true)");
    for (int i = 0; i < 2; ++i) {
        auto r = env.chat(body);
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.header(hdr), "miss") << "attempt " << i;
        wait_not_complete(env, "m", i + 1);
    }
    EXPECT_EQ(up.requests().size(), 2u);
}

// ---- 8. TTL --------------------------------------------------------------------------------

TEST(Cache, EntriesExpireAfterTheirTtlInRedis) {
    cache_env env;
    std::string body = det_body("m-ttl", "short lived");
    store(env, body);
    expect_chat(env, body, "hit", 0);
    // Redis drops the key once its PX passes (watch it rather than sleep blind).
    ASSERT_TRUE(eventually([&] { return redis_dbsize(env.redis->port()) == 0; }, 5s))
        << "keys left: " << redis_dbsize(env.redis->port());
    expect_chat(env, body, "miss", 1);
    expect_chat(env, body, "hit", 0);
}

TEST(Cache, EntriesExpireAfterTheirTtlInProcess) {
    cache_env env({.redis = false});
    std::string body = det_body("m-ttl", "short lived");
    store(env, body);
    expect_chat(env, body, "hit", 0);
    std::this_thread::sleep_for(2500ms);
    expect_chat(env, body, "miss", 1);
}

// A TTL under a whole second is kept as written (config accepts 1500ms).
TEST(Cache, TtlKeepsItsMilliseconds) {
    cache_env env;
    store(env, det_body("m-ttl-ms", "ttl in ms"));
    ASSERT_TRUE(eventually([&] { return redis_dbsize(env.redis->port()) == 1; }, 5s));
    long long pttl = redis_max_pttl(env.redis->port());
    EXPECT_GT(pttl, 1000) << "ttl: 1500ms was stored with PX " << pttl << " (whole seconds only?)";
    EXPECT_LE(pttl, 1500);
}

// ---- 9. request headers ---------------------------------------------------------------------

TEST(Cache, NoCacheNoStoreBypassAndRefreshHeaders) {
    cache_env env;
    std::string a = det_body("m", "headers a");
    auto first = store(env, a);
    // no-cache: fresh from upstream and stored; the next plain request hits the new entry.
    auto fresh = store(env, a, {{"Cache-Control", "no-cache"}});
    EXPECT_NE(body_json(fresh)["id"], body_json(first)["id"]);
    auto after = expect_chat(env, a, "hit", 0);
    EXPECT_EQ(body_json(after)["id"], body_json(fresh)["id"]) << "the hit serves the refreshed entry";
    // refresh: the same through X-Swapgate-Cache.
    auto refreshed = store(env, a, {{"X-Swapgate-Cache", "refresh"}});
    auto after2 = expect_chat(env, a, "hit", 0);
    EXPECT_EQ(body_json(after2)["id"], body_json(refreshed)["id"]);
    // no-store / bypass: not looked up...
    expect_chat(env, a, "bypass", 1, {{"Cache-Control", "no-store"}});
    expect_chat(env, a, "bypass", 1, {{"X-Swapgate-Cache", "bypass"}});
    // ...and not stored: the entry is still the refreshed one.
    auto after3 = expect_chat(env, a, "hit", 0);
    EXPECT_EQ(body_json(after3)["id"], body_json(refreshed)["id"]);
    std::string b = det_body("m", "headers b");
    expect_chat(env, b, "bypass", 1, {{"Cache-Control", "no-store"}});
    expect_chat(env, b, "bypass", 1, {{"X-Swapgate-Cache", "bypass"}});
    store(env, b);
    expect_chat(env, b, "hit", 0);
    // Cache-Control: max-age=0 is no-cache.
    expect_chat(env, b, "miss", 1, {{"Cache-Control", "max-age=0"}});
    // No header makes an uneligible request cacheable.
    std::string hot = R"({"model":"m","messages":[{"role":"user","content":"headers hot"}],"temperature":0.9})";
    expect_chat(env, hot, "bypass", 1, {{"X-Swapgate-Cache", "refresh"}});
    expect_chat(env, hot, "bypass", 1);
}

// ---- 10. eligibility modes --------------------------------------------------------------------

TEST(Cache, ModesDeterministicAlwaysOff) {
    cache_env env;
    std::string warm = R"("messages":[{"role":"user","content":"modes"}],"temperature":0.7)";
    // deterministic: temperature 0.7 without a seed is not cacheable.
    expect_chat(env, R"({"model":"m",)" + warm + "}", "bypass", 1);
    expect_chat(env, R"({"model":"m",)" + warm + "}", "bypass", 1);
    // ...with a seed it is.
    store(env, R"({"model":"m",)" + warm + R"(,"seed":3})");
    expect_chat(env, R"({"model":"m",)" + warm + R"(,"seed":3})", "hit", 0);
    // always: the same request hits.
    store(env, R"({"model":"m-always",)" + warm + "}");
    expect_chat(env, R"({"model":"m-always",)" + warm + "}", "hit", 0);
    auto s = expect_chat(env, R"({"model":"m-always",)" + warm + R"(,"stream":true})", "hit", 0);
    EXPECT_TRUE(parse_stream(s.body).done);
    // off: never looked up, never stored.
    std::string det = R"({"model":"m-off","messages":[{"role":"user","content":"modes"}],"temperature":0})";
    expect_chat(env, det, "off", 1);
    expect_chat(env, det, "off", 1);
    auto so = expect_chat(env, R"({"model":"m-off","messages":[{"role":"user","content":"modes"}],"temperature":0,"stream":true})",
                          "off", 1);
    EXPECT_TRUE(parse_stream(so.body).done);
    auto m = env.metrics();
    EXPECT_EQ(metric(m, R"(swapgate_cache_lookups_total{model="m-off",result="off"})"), 3) << m;
    EXPECT_EQ(metric(m, R"(swapgate_cache_lookups_total{model="m",result="bypass"})"), 2);
    EXPECT_EQ(metric(m, R"(swapgate_cache_stores_total{model="m-off",outcome="stored"})"), 0);
}

// ---- 11. embeddings ----------------------------------------------------------------------------

std::vector<std::vector<float>> vectors_of(const json& body) {
    std::vector<std::vector<float>> out;
    if (!body.contains("data")) return out;
    out.resize(body["data"].size());
    for (const auto& d : body["data"]) {
        size_t i = d.value("index", 0);
        if (i >= out.size()) continue;
        for (const auto& x : d["embedding"]) out[i].push_back(x.get<float>());
    }
    return out;
}

TEST(Cache, EmbeddingsAreCachedPerInput) {
    cache_env env;
    auto embed = [&](const std::string& input) {
        return env.post(embed_path, R"({"model":"m","input":)" + input + "}");
    };
    auto direct = [&](const std::string& input) {
        http_client c(env.sim->port());
        auto r = c.request("POST", embed_path, R"({"model":"m","input":)" + input + "}");
        EXPECT_EQ(r.status, 200);
        return vectors_of(body_json(r));
    };
    long long before = env.sim_requests();
    auto mark = env.mark();
    auto ab = embed(R"(["a","b"])");
    ASSERT_EQ(ab.status, 200) << ab.body;
    EXPECT_EQ(ab.header(hdr), "miss");
    EXPECT_EQ(env.sim_requests() - before, 1);
    ASSERT_TRUE(env.wait_stored(mark, 2)) << "one entry per input";

    before = env.sim_requests();
    mark = env.mark();
    auto ac = embed(R"(["a","c"])");
    ASSERT_EQ(ac.status, 200) << ac.body;
    EXPECT_EQ(env.sim_requests() - before, 1);
    ASSERT_TRUE(env.wait_stored(mark, 1)) << "only the new input is stored";
    auto acj = body_json(ac);
    EXPECT_EQ(acj["swapgate_cache"], (json{{"cached_inputs", 1}, {"inputs", 2}})) << ac.body;

    before = env.sim_requests();
    auto cba = embed(R"(["c","b","a"])");
    ASSERT_EQ(cba.status, 200) << cba.body;
    EXPECT_EQ(cba.header(hdr), "hit");
    EXPECT_EQ(env.sim_requests() - before, 0) << "an all-cached batch needs no upstream";
    EXPECT_EQ(body_json(cba)["swapgate_cache"], (json{{"cached_inputs", 3}, {"inputs", 3}})) << cba.body;
    // A single string input is the same entry.
    auto single = embed(R"("b")");
    EXPECT_EQ(single.header(hdr), "hit");
    EXPECT_EQ(env.sim_requests() - before, 0);

    // The vectors sit at the right indexes and equal the backend's own.
    EXPECT_EQ(vectors_of(acj), direct(R"(["a","c"])"));
    EXPECT_EQ(vectors_of(body_json(cba)), direct(R"(["c","b","a"])"));
    EXPECT_EQ(vectors_of(body_json(single)), direct(R"("b")"));
    auto cj = body_json(cba);
    for (size_t i = 0; i < cj["data"].size(); ++i) EXPECT_EQ(cj["data"][i]["index"], i) << cba.body;
    EXPECT_EQ(cj["usage"]["prompt_tokens"], 3) << cba.body;
}

TEST(Cache, EmbeddingsAskTheUpstreamOnlyForTheMissingInputs) {
    scripted_upstream up;
    auto reply = [](const std::string& body) { return scripted_upstream::reply{{{http_reply(200, "application/json", body), {}}}}; };
    up.push(reply(R"({"object":"list","model":"m","data":[{"object":"embedding","index":1,"embedding":[0.0,1.0]},)"
                  R"({"object":"embedding","index":0,"embedding":[1.0,0.0]}],"usage":{"prompt_tokens":2,"total_tokens":2}})"));
    up.push(reply(R"({"object":"list","model":"m","data":[{"object":"embedding","index":0,"embedding":[0.5,0.25]}],)"
                  R"("usage":{"prompt_tokens":1,"total_tokens":1}})"));
    cache_env env({.redis = false, .upstream_url = url_of(up.port())});
    auto r1 = env.post(embed_path, R"({"model":"m","input":["a","b"]})");
    ASSERT_EQ(r1.status, 200) << r1.body;
    EXPECT_EQ(vectors_of(body_json(r1)), (std::vector<std::vector<float>>{{1, 0}, {0, 1}})) << "placed by data[].index";
    auto r2 = env.post(embed_path, R"({"model":"m","input":["a","c"]})");
    ASSERT_EQ(r2.status, 200) << r2.body;
    auto reqs = up.requests();
    ASSERT_EQ(reqs.size(), 2u);
    auto sent = json::parse(request_body(reqs[1]), nullptr, false);
    json input = sent["input"];
    if (input.is_string()) input = json::array({input});
    EXPECT_EQ(input, json::array({"c"})) << request_body(reqs[1]);
    EXPECT_EQ(vectors_of(body_json(r2)), (std::vector<std::vector<float>>{{1, 0}, {0.5f, 0.25f}})) << r2.body;
    EXPECT_EQ(body_json(r2)["usage"]["prompt_tokens"], 2) << r2.body;
    auto r3 = env.post(embed_path, R"({"model":"m","input":["c","a","b"]})");
    ASSERT_EQ(r3.status, 200);
    EXPECT_EQ(r3.header(hdr), "hit");
    EXPECT_EQ(up.requests().size(), 2u);
    EXPECT_EQ(vectors_of(body_json(r3)), (std::vector<std::vector<float>>{{0.5f, 0.25f}, {1, 0}, {0, 1}}));
}

// ---- 12. two proxies, one Redis ----------------------------------------------------------------

TEST(Cache, TwoProxiesSharingRedisSeeEachOthersEntriesAndExpiries) {
    cache_env env;
    auto other = env.second_proxy();
    int p1 = env.proxy->port(), p2 = other->port();
    std::string a = det_body("m", "shared a"), b = det_body("m", "shared b");
    auto a1 = store(env, a, {}, p1);
    auto a2 = expect_chat(env, a, "hit", 0, {}, p2);
    EXPECT_EQ(body_json(a2)["id"], body_json(a1)["id"]);
    store(env, b, {}, p2);
    expect_chat(env, b, "hit", 0, {}, p1);

    long long keys = redis_dbsize(env.redis->port());
    ASSERT_EQ(keys, 2);
    std::string t = det_body("m-ttl", "shared short");
    store(env, t, {}, p1);
    expect_chat(env, t, "hit", 0, {}, p2);
    ASSERT_TRUE(eventually([&] { return redis_dbsize(env.redis->port()) == keys; }, 5s));
    store(env, t, {}, p2);
    expect_chat(env, t, "hit", 0, {}, p1);
}

// ---- 13/14. Redis failures ------------------------------------------------------------------------

TEST(Cache, RedisKilledUnderLoadFailsOpenAndRecovers) {
    cache_env env({.redis_timeout = "50ms"});
    constexpr int threads = 4, per_thread = 50;
    std::atomic<int> ok{0}, failed{0}, done{0}, at_gate{0};
    std::atomic<bool> stopped{false};
    std::vector<std::string> errors;
    std::mutex errors_mu;
    auto worker = [&](int t) {
        std::unique_ptr<http_client> c;
        for (int i = 0; i < per_thread; ++i) {
            // Threads 0 and 1 keep going (slow upstream answers: in flight when Redis
            // dies); 2 and 3 wait at the half for the kill, so half their work runs after it.
            if (t >= 2 && i == per_thread / 2) {
                ++at_gate;
                eventually([&] { return stopped.load(); }, 20s);
            }
            std::string body = t < 2 ? det_body("m", "load " + std::to_string(t) + "-" + std::to_string(i),
                                                R"("sim":{"tokens":4,"token_delay_ms":5})")
                                     : det_body("m", "load shared " + std::to_string(i % 8));
            try {
                if (!c) c = std::make_unique<http_client>(env.proxy->port());
                auto r = c->request("POST", chat_path, body);
                if (r.status == 200) ++ok;
                else {
                    ++failed;
                    std::lock_guard l(errors_mu);
                    errors.push_back(std::to_string(r.status) + " " + r.body);
                }
                if (r.header("connection") == "close") c.reset();
            } catch (const std::exception& e) {
                ++failed;
                c.reset();
                std::lock_guard l(errors_mu);
                errors.push_back(e.what());
            }
            ++done;
        }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
    bool gated = eventually([&] { return at_gate.load() == 2; }, 20s);
    int done_at_kill = done.load();
    env.redis->stop();
    stopped = true;
    for (auto& th : pool) th.join();
    ASSERT_TRUE(gated);
    EXPECT_EQ(ok.load(), threads * per_thread);
    EXPECT_EQ(failed.load(), 0) << (errors.empty() ? "" : errors.front());
    EXPECT_LT(done_at_kill, threads * per_thread) << "some requests ran after the kill";
    EXPECT_TRUE(eventually([&] { return env.metric(R"(swapgate_cache_store_up{store="redis"})") == 0; }, 5s));
    auto m = env.metrics();
    EXPECT_GT(metric(m, R"(swapgate_cache_store_errors_total{op="get"})") +
                  metric(m, R"(swapgate_cache_store_errors_total{op="set"})"),
              0)
        << m;
    // While Redis is down: answered, never from the cache.
    std::string x = det_body("m", "after the restart");
    expect_chat(env, x, "miss", 1);
    expect_chat(env, x, "miss", 1);

    env.redis->restart();
    ASSERT_TRUE(eventually([&] { return env.metric(R"(swapgate_cache_store_up{store="redis"})") == 1; }, 15s));
    bool hit = eventually(
        [&] {
            env.chat(x);
            return env.chat(x).header(hdr) == "hit";
        },
        10s);
    EXPECT_TRUE(hit) << "the cache works again after Redis came back";
    expect_chat(env, x, "hit", 0);
}

TEST(Cache, SlowRedisIsAMissWithinTheRedisTimeout) {
    cache_env env({.redis_timeout = "50ms"});
    std::string body = det_body("m", "slow redis");
    store(env, body);
    expect_chat(env, body, "hit", 0);
    // Redis stops answering every client for 1.5 s: lookups time out (50 ms) and miss.
    ASSERT_EQ(redis_inline(env.redis->port(), "CLIENT PAUSE 1500 ALL"), "+OK");
    auto t0 = std::chrono::steady_clock::now();
    auto r = expect_chat(env, body, "miss", 1);
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 1200ms) << "the request waited for the paused Redis";
    // Once Redis answers again, the entry is served again.
    EXPECT_TRUE(eventually([&] { return env.chat(body).header(hdr) == "hit"; }, 10s));
}

TEST(Cache, RedisDownAtStartIsAMissNotAnError) {
    redis_server redis;
    std::string url = redis.url();
    redis.stop();
    cache_env env({.redis_url = url, .redis_timeout = "50ms"});
    http_client h(env.proxy->port());
    EXPECT_EQ(h.request("GET", "/readyz").status, 200);
    std::string body = det_body("m", "no redis yet");
    expect_chat(env, body, "miss", 1);
    expect_chat(env, body, "miss", 1);
    auto s = expect_chat(env, det_body("m", "no redis yet", R"("stream":true)"), "miss", 1);
    EXPECT_TRUE(parse_stream(s.body).done);
    EXPECT_EQ(env.metric(R"(swapgate_cache_store_up{store="redis"})"), 0);
    // Redis appears later: the cache starts working without a restart of swapgate.
    redis.restart();
    ASSERT_TRUE(eventually([&] { return env.metric(R"(swapgate_cache_store_up{store="redis"})") == 1; }, 15s));
    bool hit = eventually(
        [&] {
            env.chat(body);
            return env.chat(body).header(hdr) == "hit";
        },
        10s);
    EXPECT_TRUE(hit);
}

// ---- 15. size bound ----------------------------------------------------------------------------

TEST(Cache, AnswerLargerThanMaxEntrySizeIsAnsweredButNotStored) {
    cache_env env;
    std::string body = det_body("m-tiny", "too big to keep");
    auto r = expect_chat(env, body, "miss", 1);
    EXPECT_FALSE(from_response(body_json(r)).content.empty()) << r.body;
    expect_chat(env, body, "miss", 1);
    auto s = expect_chat(env, det_body("m-tiny", "too big to keep", R"("stream":true)"), "miss", 1);
    EXPECT_TRUE(parse_stream(s.body).done) << s.body;
    auto m = env.metrics();
    EXPECT_EQ(metric(m, R"(swapgate_cache_stores_total{model="m-tiny",outcome="stored"})"), 0) << m;
    EXPECT_EQ(metric(m, R"(swapgate_cache_stores_total{model="m-tiny",outcome="too_large"})"), 3) << m;
    EXPECT_EQ(redis_dbsize(env.redis->port()), 0);
}

// An answer the in-process store cannot hold (larger than the whole store) is
// answered, not kept, and not counted as stored.
TEST(Cache, AnswerLargerThanTheInProcessStoreIsNotCountedAsStored) {
    cache_env env({.redis = false, .memory = "600"});
    std::string body = det_body("m", "bigger than the store", R"("sim":{"tokens":120})");
    auto r = expect_chat(env, body, "miss", 1);
    ASSERT_GT(r.body.size(), 600u);
    expect_chat(env, body, "miss", 1);
    auto m = env.metrics();
    EXPECT_EQ(metric(m, R"(swapgate_cache_stores_total{model="m",outcome="stored"})"), 0)
        << "the store refused the entry, the metric says it was stored:\n" << cache_metrics(env, 0);
}

}  // namespace
}  // namespace swapgate::test::cache
