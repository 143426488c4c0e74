#include "config/config.hpp"
#include "config_helpers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace swapgate::config {
namespace {

const char* full = R"(
listen: 0.0.0.0:9000
threads: 3
limits: {max_body_size: 1MiB, max_header_size: 8KiB, request_read_timeout: 2s, idle_timeout: 500ms, shutdown_grace: 1m}
auth: {api_keys: [a, "${KEY}"]}
log: {requests: false}
backends:
  local:
    url: http://127.0.0.1:8080/v1
    timeouts: {connect: 250ms, first_byte: 1m, idle: 10, total: 1h}
    max_idle_connections: 8
  hosted:
    url: https://api.example.com/v1
    api_key: "Bearer-less ${KEY}"
    headers: {X-Org: "o1"}
models:
  - name: tinyllama
    aliases: [fast, tiny]
    backend: local
    upstream_model: tinyllama-1.1b
    tier: fast
  - {name: gpt, backend: hosted}
)";

TEST(Config, FullExampleLoads) {
    auto r = load(full, {{"KEY", "k2"}});
    ASSERT_TRUE(r.cfg) << all(r);
    const auto& c = *r.cfg;
    EXPECT_EQ(c.listen_host, "0.0.0.0");
    EXPECT_EQ(c.listen_port, 9000);
    EXPECT_EQ(c.threads, 3);
    EXPECT_EQ(c.limits.max_body_bytes, 1u << 20);
    EXPECT_EQ(c.limits.max_header_bytes, 8u * 1024);
    EXPECT_EQ(c.limits.request_read_timeout, std::chrono::seconds(2));
    EXPECT_EQ(c.limits.idle_timeout, std::chrono::milliseconds(500));
    EXPECT_EQ(c.limits.shutdown_grace, std::chrono::minutes(1));
    EXPECT_EQ(c.auth.api_keys, (std::vector<std::string>{"a", "k2"}));
    EXPECT_FALSE(c.log.requests);
    const auto& local = c.backends.at("local");
    EXPECT_EQ(local.timeouts.connect, std::chrono::milliseconds(250));
    EXPECT_EQ(local.timeouts.first_byte, std::chrono::minutes(1));
    EXPECT_EQ(local.timeouts.idle, std::chrono::seconds(10));
    EXPECT_EQ(local.max_idle_connections, 8);
    EXPECT_EQ(c.backends.at("hosted").api_key, "Bearer-less k2");
    EXPECT_EQ(c.backends.at("hosted").headers.at("X-Org"), "o1");
    ASSERT_EQ(c.models.size(), 2u);
    EXPECT_EQ(c.models[0].aliases, (std::vector<std::string>{"fast", "tiny"}));
    EXPECT_EQ(c.models[0].upstream_model, "tinyllama-1.1b");
    EXPECT_EQ(c.models[1].upstream_model, "gpt");  // defaults to the name
}

TEST(Config, DefaultsWhenEmpty) {
    auto r = load("");
    ASSERT_TRUE(r.cfg) << all(r);
    EXPECT_EQ(r.cfg->listen_host, "127.0.0.1");
    EXPECT_EQ(r.cfg->listen_port, 8000);
    EXPECT_TRUE(r.cfg->auth.api_keys.empty());
}

TEST(Config, UnsetEnvironmentVariableNamesThePath) {
    auto r = load(full);
    EXPECT_FALSE(r.cfg);
    EXPECT_TRUE(has_error(r, "auth.api_keys[1]: environment variable KEY is not set")) << all(r);
    EXPECT_TRUE(has_error(r, "backends.hosted.api_key: environment variable KEY is not set")) << all(r);
}

TEST(Config, EnvironmentDefaultsAndEscapes) {
    auto r = load("backends:\n  b: {url: \"http://${HOST:-127.0.0.1}:${PORT:-1234}/v1\", api_key: \"$$literal\"}\n");
    ASSERT_TRUE(r.cfg) << all(r);
    EXPECT_EQ(r.cfg->backends.at("b").url, "http://127.0.0.1:1234/v1");
    EXPECT_EQ(r.cfg->backends.at("b").api_key, "$literal");
}

TEST(Config, RequiresEnvSwitchesABackendAndItsModelsOff) {
    const char* y = "backends:\n  hosted: {url: https://x/v1, api_key: \"${OPENAI_API_KEY}\", requires_env: OPENAI_API_KEY}\n"
                    "models:\n  - {name: gpt, backend: hosted}\n";
    auto off = load(y);
    ASSERT_TRUE(off.cfg) << all(off);
    EXPECT_TRUE(off.cfg->backends.empty());
    EXPECT_TRUE(off.cfg->models.empty());
    EXPECT_EQ(off.cfg->notes.size(), 2u);
    auto on = load(y, {{"OPENAI_API_KEY", "sk-1"}});
    ASSERT_TRUE(on.cfg) << all(on);
    EXPECT_EQ(on.cfg->backends.at("hosted").api_key, "sk-1");
    EXPECT_EQ(on.cfg->models.size(), 1u);
}

TEST(Config, ValidationErrorsNameTheKeyPath) {
    auto r = load(R"(
listen: nowhere
threads: -1
limits: {max_body_size: lots, idle_timeout: soon}
backends:
  a: {url: ftp://x}
  b: {}
  c: {url: "http://h:99999/"}
  d: {url: http://h/v1, timeouts: {connect: 0s}}
models:
  - {name: m, backend: zz}
  - {name: n, backend: a, aliases: [m]}
  - {backend: a}
  - {name: p, backend: a, colour: red}
)");
    EXPECT_FALSE(r.cfg);
    EXPECT_TRUE(has_error(r, "listen: expected HOST:PORT")) << all(r);
    EXPECT_TRUE(has_error(r, "threads: must be between 0 and 256")) << all(r);
    EXPECT_TRUE(has_error(r, "limits.max_body_size: expected a size")) << all(r);
    EXPECT_TRUE(has_error(r, "limits.idle_timeout: expected a duration")) << all(r);
    EXPECT_TRUE(has_error(r, "backends.a.url: 'ftp://x' must start with http:// or https://")) << all(r);
    EXPECT_TRUE(has_error(r, "backends.b.url: required")) << all(r);
    EXPECT_TRUE(has_error(r, "backends.c.url: 'http://h:99999/' invalid port")) << all(r);
    EXPECT_TRUE(has_error(r, "backends.d.timeouts.connect: must be greater than zero")) << all(r);
    EXPECT_TRUE(has_error(r, "models[0].backend: unknown backend 'zz' (known: a, b, c, d)")) << all(r);
    EXPECT_TRUE(has_error(r, "models[1].aliases[0]: 'm' is already used at models[0].name")) << all(r);
    EXPECT_TRUE(has_error(r, "models[2].name: required")) << all(r);
    EXPECT_TRUE(has_error(r, "models[3].colour: unknown key 'colour'")) << all(r);
}

TEST(Config, MisspeltKeyGetsASuggestion) {
    auto r = load("listn: 127.0.0.1:1\n");
    EXPECT_TRUE(has_error(r, "listn: unknown key 'listn'; did you mean 'listen'?")) << all(r);
}

TEST(Config, BrokenYamlReportsTheLine) {
    auto r = load("backends:\n  a: {url: [\n");
    EXPECT_FALSE(r.cfg);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].rfind("line ", 0), 0u) << r.errors[0];
}

TEST(Config, WrongKinds) {
    auto r = load("backends: [1, 2]\nmodels: {a: 1}\nauth: {api_keys: {x: 1}}\n");
    EXPECT_TRUE(has_error(r, "backends: expected a map")) << all(r);
    EXPECT_TRUE(has_error(r, "models: expected a list")) << all(r);
    EXPECT_TRUE(has_error(r, "auth.api_keys: expected a list of strings")) << all(r);
}

TEST(Config, MissingFileIsAnError) {
    auto r = load_file("/nonexistent/swapgate.yaml", env_of({}));
    EXPECT_FALSE(r.cfg);
    EXPECT_TRUE(has_error(r, "cannot read the file"));
}

TEST(Duration, Parses) {
    EXPECT_EQ(parse_duration("250ms"), std::chrono::milliseconds(250));
    EXPECT_EQ(parse_duration("1.5s"), std::chrono::milliseconds(1500));
    EXPECT_EQ(parse_duration("2"), std::chrono::milliseconds(2000));
    EXPECT_EQ(parse_duration("3m"), std::chrono::minutes(3));
    EXPECT_EQ(parse_duration(" 1h "), std::chrono::hours(1));
    EXPECT_FALSE(parse_duration("soon"));
    EXPECT_FALSE(parse_duration("-1s"));
    EXPECT_FALSE(parse_duration("5 parsecs"));
    EXPECT_FALSE(parse_duration(""));
}

TEST(Size, Parses) {
    EXPECT_EQ(parse_size("16KiB"), 16u * 1024);
    EXPECT_EQ(parse_size("32MiB"), 32u << 20);
    EXPECT_EQ(parse_size("1GB"), 1000000000u);
    EXPECT_EQ(parse_size("100"), 100u);
    EXPECT_FALSE(parse_size("big"));
    EXPECT_FALSE(parse_size("1XB"));
}

TEST(Listen, Parses) {
    std::string h;
    std::uint16_t p = 0;
    EXPECT_TRUE(parse_listen("127.0.0.1:8000", h, p));
    EXPECT_EQ(h, "127.0.0.1");
    EXPECT_EQ(p, 8000);
    EXPECT_TRUE(parse_listen("[::1]:9", h, p));
    EXPECT_EQ(h, "::1");
    EXPECT_TRUE(parse_listen(":7", h, p));
    EXPECT_EQ(h, "127.0.0.1");
    EXPECT_FALSE(parse_listen("host", h, p));
    EXPECT_FALSE(parse_listen("h:70000", h, p));
}

}  // namespace
}  // namespace swapgate::config
