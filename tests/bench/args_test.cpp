#include "bench/load/args.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace swapgate::bench {
namespace {

args_result parse(std::vector<std::string> a) { return parse_args(a); }

// The error names the flag: it starts with "--flag:".
void expect_error(std::vector<std::string> a, const std::string& flag) {
    auto r = parse(a);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error.rfind(flag + ":", 0), 0u) << "got: " << r.error;
}

TEST(Args, DefaultsForMinimalCommand) {
    auto r = parse({"--url", "http://127.0.0.1:8000/v1"});
    ASSERT_TRUE(r.ok()) << r.error;
    const auto& o = r.opts;
    ASSERT_EQ(o.targets.size(), 1u);
    EXPECT_EQ(o.targets[0].host, "127.0.0.1");
    EXPECT_EQ(o.targets[0].port, "8000");
    EXPECT_EQ(o.targets[0].base_path, "/v1");
    EXPECT_EQ(o.concurrency, 1u);
    EXPECT_FALSE(o.open_loop());
    EXPECT_EQ(o.duration_s, 10.0);
    EXPECT_FALSE(o.requests);
    EXPECT_EQ(o.workload.ep, endpoint::chat);
    ASSERT_EQ(o.workload.models.size(), 1u);
    EXPECT_EQ(o.workload.models[0].name, "sim");
    EXPECT_EQ(o.timeout_s, 120);
    EXPECT_EQ(o.max_inflight, 1024u);
}

TEST(Args, FullCommand) {
    auto r = parse({"--compare", "http://a:1/v1/", "http://[::1]:2", "--rate=50", "--requests", "100", "--model", "x=2",
                    "--model", "y", "--prompt-words", "5-9", "--max-tokens", "16", "--repeat-share", "0.3",
                    "--stream", "--include-usage", "--extra", R"({"temperature":0})", "--header", "X-A:  b ",
                    "--api-key", "k", "--seed", "5", "--json", "out.json", "--quiet", "--threads", "2"});
    ASSERT_TRUE(r.ok()) << r.error;
    const auto& o = r.opts;
    EXPECT_TRUE(o.compare());
    EXPECT_EQ(o.targets[0].base_path, "/v1");
    EXPECT_EQ(o.targets[1].host, "::1");
    EXPECT_EQ(o.targets[1].base_path, "/v1");
    EXPECT_EQ(o.rate, 50.0);
    EXPECT_TRUE(o.open_loop());
    EXPECT_EQ(o.requests, 100u);
    EXPECT_FALSE(o.duration_s);
    ASSERT_EQ(o.workload.models.size(), 2u);  // the default "sim" is replaced
    EXPECT_EQ(o.workload.models[0].weight, 2.0);
    EXPECT_EQ(o.workload.prompt_words_min, 5u);
    EXPECT_EQ(o.workload.prompt_words_max, 9u);
    EXPECT_EQ(o.workload.stream_share, 1.0);
    EXPECT_EQ(o.workload.seed, 5u);
    ASSERT_EQ(o.headers.size(), 1u);
    EXPECT_EQ(o.headers[0].first, "X-A");
    EXPECT_EQ(o.headers[0].second, "b");

    nlohmann::json j;
    options_to_json(o, j);
    EXPECT_EQ(j["mode"], "compare");
    EXPECT_EQ(j["seed"], 5);
    EXPECT_EQ(j["api_key"], true);  // presence only, never the key
}

TEST(Args, ErrorsNameTheFlag) {
    expect_error({}, "--url");
    expect_error({"--url", "ftp://x"}, "--url");
    expect_error({"--url", "https://x/v1"}, "--url");
    expect_error({"--url", "http://x:99999/v1"}, "--url");
    expect_error({"--url", "http://x", "--concurrency", "0"}, "--concurrency");
    expect_error({"--url", "http://x", "--concurrency", "abc"}, "--concurrency");
    expect_error({"--url", "http://x", "--rate", "-1"}, "--rate");
    expect_error({"--url", "http://x", "--rate", "5", "--concurrency", "2"}, "--rate");
    expect_error({"--url", "http://x", "--requests"}, "--requests");
    expect_error({"--url", "http://x", "--duration", "0"}, "--duration");
    expect_error({"--url", "http://x", "--endpoint", "images"}, "--endpoint");
    expect_error({"--url", "http://x", "--model", "a=0"}, "--model");
    expect_error({"--url", "http://x", "--model", "=2"}, "--model");
    expect_error({"--url", "http://x", "--prompt-words", "9-5"}, "--prompt-words");
    expect_error({"--url", "http://x", "--repeat-share", "1.5"}, "--repeat-share");
    expect_error({"--url", "http://x", "--stream-share", "x"}, "--stream-share");
    expect_error({"--url", "http://x", "--extra", "[1]"}, "--extra");
    expect_error({"--url", "http://x", "--extra", "{bad"}, "--extra");
    expect_error({"--url", "http://x", "--header", "NoColon"}, "--header");
    expect_error({"--url", "http://x", "--header", "Bad Name: v"}, "--header");
    expect_error({"--url", "http://x", "--timeout", "0"}, "--timeout");
    expect_error({"--url", "http://x", "--threads", "0"}, "--threads");
    expect_error({"--url", "http://x", "--bogus", "1"}, "--bogus");
    expect_error({"--url", "http://x", "stray"}, "stray");
    expect_error({"--url", "http://x", "--quiet=1"}, "--quiet");
    expect_error({"--url", "http://x", "--url", "http://y"}, "--url");
    expect_error({"--compare", "http://x"}, "--compare");
    expect_error({"--url", "http://x", "--trace", "t.jsonl", "--rate", "3"}, "--trace");
    expect_error({"--url", "http://x", "--trace", "t.jsonl", "--prompt-words", "3"}, "--prompt-words");
    expect_error({"--url", "http://x", "--trace-speed", "2"}, "--trace-speed");
    expect_error({"--url", "http://x", "--endpoint", "embeddings", "--stream"}, "--endpoint");
}

TEST(Args, TraceRunsToItsEndByDefault) {
    auto r = parse({"--url", "http://x", "--trace", "t.jsonl", "--trace-speed", "2"});
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_FALSE(r.opts.duration_s);
    EXPECT_TRUE(r.opts.open_loop());
    EXPECT_EQ(r.opts.trace_speed, 2.0);
}

TEST(Args, Help) { EXPECT_TRUE(parse({"--help"}).help); }

TEST(TargetUrl, EmptyPathDefaultsToV1AndPort80) {
    target_url u;
    EXPECT_EQ(parse_target_url("http://host", u), "");
    EXPECT_EQ(u.port, "80");
    EXPECT_EQ(u.base_path, "/v1");
    EXPECT_EQ(parse_target_url("http://host:8080/api/v1//", u), "");
    EXPECT_EQ(u.base_path, "/api/v1");
    EXPECT_NE(parse_target_url("http://host/v1?x=1", u), "");
}

}  // namespace
}  // namespace swapgate::bench
