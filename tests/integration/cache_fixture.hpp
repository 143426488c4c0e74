// Pieces of the response cache integration tests (cache_test.cpp): swapgate in
// front of swapgate-sim with a cache config, optionally a real redis-server,
// metric and SSE helpers, and a merge of streamed deltas into one message so a
// stream and a non-stream answer can be compared.
#pragma once
#include "fixture.hpp"
#include "tests/support/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <stdexcept>

namespace swapgate::test::cache {

// ---- metrics ----------------------------------------------------------------

// The value of one series in Prometheus text ("name{labels}"), 0 when absent.
inline double metric(const std::string& text, const std::string& series) {
    std::string needle = "\n" + series + " ";
    auto at = text.find(needle);
    if (at == std::string::npos) {
        if (text.rfind(series + " ", 0) != 0) return 0;
        at = 0;
        needle = series + " ";
    }
    return std::atof(text.c_str() + at + needle.size());
}

// ---- SSE ----------------------------------------------------------------------

// The `data:` payloads of a de-chunked event-stream body, in order.
inline std::vector<std::string> sse_payloads(const std::string& body) {
    std::vector<std::string> out;
    size_t at = 0;
    while (at < body.size()) {
        size_t end = body.find("\n\n", at);
        std::string ev = body.substr(at, end == std::string::npos ? std::string::npos : end - at);
        at = end == std::string::npos ? body.size() : end + 2;
        size_t line = 0;
        while (line < ev.size()) {
            size_t nl = ev.find('\n', line);
            std::string l = ev.substr(line, nl == std::string::npos ? std::string::npos : nl - line);
            line = nl == std::string::npos ? ev.size() : nl + 1;
            if (!l.empty() && l.back() == '\r') l.pop_back();
            if (l.rfind("data: ", 0) == 0) out.push_back(l.substr(6));
        }
    }
    return out;
}

struct stream_parts {
    std::vector<json> chunks;  // parsed payloads, [DONE] excluded
    bool done = false;         // ended with [DONE]
    bool parse_error = false;
};

inline stream_parts parse_stream(const std::string& body) {
    stream_parts s;
    for (const auto& p : sse_payloads(body)) {
        if (p == "[DONE]") {
            s.done = true;
            continue;
        }
        auto j = json::parse(p, nullptr, false);
        if (j.is_discarded()) s.parse_error = true;
        else s.chunks.push_back(std::move(j));
    }
    return s;
}

// ---- one assistant message, from a stream or a body ------------------------------

struct tool_call {
    std::string id, type, name, arguments;
    bool operator==(const tool_call&) const = default;
};

struct message {
    std::string content;
    bool has_content = false;  // some non-null content was seen
    std::string reasoning;
    std::string finish_reason;
    std::map<int, tool_call> tools;  // by index
    json usage;                      // null when none
    bool operator==(const message& o) const {
        return content == o.content && has_content == o.has_content && reasoning == o.reasoning &&
               finish_reason == o.finish_reason && tools == o.tools;
    }
};

inline std::ostream& operator<<(std::ostream& os, const message& m) {
    os << "{content=" << json(m.content).dump() << (m.has_content ? "" : "(null)")
       << " reasoning=" << json(m.reasoning).dump() << " finish=" << m.finish_reason << " tools=[";
    for (const auto& [i, t] : m.tools)
        os << i << ":{" << t.id << "," << t.type << "," << t.name << "," << t.arguments << "}";
    return os << "] usage=" << m.usage.dump() << "}";
}

// Merges the deltas of choice 0 the way an SDK does.
inline message merge_stream(const std::vector<json>& chunks) {
    message m;
    for (const auto& c : chunks) {
        if (c.contains("usage") && !c["usage"].is_null()) m.usage = c["usage"];
        if (!c.contains("choices") || !c["choices"].is_array()) continue;
        for (const auto& ch : c["choices"]) {
            if (ch.value("index", 0) != 0) continue;
            if (ch.contains("finish_reason") && ch["finish_reason"].is_string())
                m.finish_reason = ch["finish_reason"].get<std::string>();
            if (!ch.contains("delta") || !ch["delta"].is_object()) continue;
            const auto& d = ch["delta"];
            if (d.contains("content") && d["content"].is_string()) {
                m.content += d["content"].get<std::string>();
                m.has_content = m.has_content || !d["content"].get<std::string>().empty();
            }
            if (d.contains("reasoning_content") && d["reasoning_content"].is_string())
                m.reasoning += d["reasoning_content"].get<std::string>();
            if (d.contains("tool_calls") && d["tool_calls"].is_array())
                for (const auto& tc : d["tool_calls"]) {
                    auto& t = m.tools[tc.value("index", -1)];
                    if (tc.contains("id") && tc["id"].is_string()) t.id += tc["id"].get<std::string>();
                    if (tc.contains("type") && tc["type"].is_string()) t.type = tc["type"].get<std::string>();
                    if (tc.contains("function") && tc["function"].is_object()) {
                        const auto& f = tc["function"];
                        if (f.contains("name") && f["name"].is_string()) t.name += f["name"].get<std::string>();
                        if (f.contains("arguments") && f["arguments"].is_string())
                            t.arguments += f["arguments"].get<std::string>();
                    }
                }
        }
    }
    return m;
}

inline message from_response(const json& body) {
    message m;
    if (body.contains("usage")) m.usage = body["usage"];
    if (!body.contains("choices") || !body["choices"].is_array() || body["choices"].empty()) return m;
    const auto& ch = body["choices"][0];
    if (ch.contains("finish_reason") && ch["finish_reason"].is_string())
        m.finish_reason = ch["finish_reason"].get<std::string>();
    if (!ch.contains("message")) return m;
    const auto& msg = ch["message"];
    if (msg.contains("content") && msg["content"].is_string()) {
        m.content = msg["content"].get<std::string>();
        m.has_content = !m.content.empty();
    }
    if (msg.contains("reasoning_content") && msg["reasoning_content"].is_string())
        m.reasoning = msg["reasoning_content"].get<std::string>();
    if (msg.contains("tool_calls") && msg["tool_calls"].is_array()) {
        int pos = 0;
        for (const auto& tc : msg["tool_calls"]) {
            tool_call t;
            t.id = tc.value("id", "");
            t.type = tc.value("type", "");
            if (tc.contains("function")) {
                t.name = tc["function"].value("name", "");
                t.arguments = tc["function"].value("arguments", "");
            }
            m.tools[tc.value("index", pos)] = t;
            ++pos;
        }
    }
    return m;
}

// ---- a raw Redis command (tests only) -------------------------------------------

// Sends one inline command to the redis-server on `port` and returns the first
// reply line (":3", "+OK", "$-1"...); "" when it cannot connect.
inline std::string redis_inline(int port, const std::string& command) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return "";
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return "";
    }
    std::string cmd = command + "\r\n";
    if (::send(fd, cmd.data(), cmd.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(cmd.size())) {
        ::close(fd);
        return "";
    }
    std::string line;
    char ch;
    while (::recv(fd, &ch, 1, 0) == 1) {
        if (ch == '\n') break;
        if (ch != '\r') line += ch;
    }
    ::close(fd);
    return line;
}

// Keys in the Redis database (-1 when it does not answer).
inline long long redis_dbsize(int port) {
    auto l = redis_inline(port, "DBSIZE");
    if (l.size() < 2 || l[0] != ':') return -1;
    return std::atoll(l.c_str() + 1);
}

// The largest PTTL (ms) over all keys: -2 when there are none.
inline long long redis_max_pttl(int port) {
    auto l = redis_inline(port,
                          "EVAL \"local m=-2 for _,k in ipairs(redis.call('KEYS','*')) do "
                          "local t=redis.call('PTTL',k) if t>m then m=t end end return m\" 0");
    if (l.size() < 2 || l[0] != ':') return -3;
    return std::atoll(l.c_str() + 1);
}

// SET commands the Redis server has processed (INFO commandstats), -1 when it
// does not answer.
inline long long redis_set_calls(int port) {
    auto l = redis_inline(port,
                          "EVAL \"local c=string.match(redis.call('INFO','commandstats'),'cmdstat_set:calls=(%d+)') "
                          "return tonumber(c or '0')\" 0");
    if (l.size() < 2 || l[0] != ':') return -1;
    return std::atoll(l.c_str() + 1);
}

// The sum of swapgate_cache_stores_total{...,outcome="stored"} over all models.
inline double stored_total(const std::string& metrics_text) {
    double sum = 0;
    const std::string name = "\nswapgate_cache_stores_total{";
    for (size_t at = metrics_text.find(name); at != std::string::npos; at = metrics_text.find(name, at + 1)) {
        size_t eol = metrics_text.find('\n', at + 1);
        std::string line = metrics_text.substr(at + 1, eol == std::string::npos ? std::string::npos : eol - at - 1);
        if (line.find("outcome=\"stored\"") == std::string::npos) continue;
        sum += std::atof(line.c_str() + line.rfind(' ') + 1);
    }
    return sum;
}

// ---- the environment ------------------------------------------------------------

struct env_options {
    bool redis = true;                // start a redis-server and configure cache.redis
    std::string redis_url;            // overrides the url (e.g. a dead port); implies redis
    // Generous by default: a 2-core machine busy compiling can take more than 50 ms
    // to answer a GET, and a timed-out lookup is (rightly) a miss.
    std::string redis_timeout = "1s";
    std::string mode = "deterministic";
    std::string ttl = "60s";
    std::string max_entry = "1MiB";
    std::string auth;                 // "[sk-a, sk-b]": auth.api_keys
    std::string tenants;              // "{sk-a: team-a}"
    std::string backend_extra;        // more YAML lines under the backend (4 spaces indent)
    std::string upstream_url;         // the backend URL; default: the sim
    std::string memory = "64MiB";     // cache.memory: the in-process store's bound
};

// Models in every config, all on the sim's model "m":
//   m (alias m-alias): opts.mode / ttl / max_entry
//   m-always, m-off: those modes;   m-ttl: ttl 1s;   m-tiny: max_entry_size 100 bytes
//   m-ttl-ms: ttl 1500ms
inline std::string cache_yaml(const env_options& o, int sim_port, const std::string& redis_url) {
    // No request log: nobody drains the child's output pipe while a test runs,
    // and a full pipe would block swapgate's writes to stderr.
    std::string y = "log:\n  requests: false\n";
    if (!o.auth.empty()) y += "auth:\n  api_keys: " + o.auth + "\n";
    y += "cache:\n  memory: " + o.memory + "\n";
    if (!redis_url.empty()) y += "  redis: \"" + redis_url + "\"\n  redis_timeout: " + o.redis_timeout + "\n";
    if (!o.tenants.empty()) y += "  tenants: " + o.tenants + "\n";
    std::string url = o.upstream_url.empty() ? url_of(sim_port) : o.upstream_url;
    y += "backends:\n  sim:\n    url: " + url + "\n" + o.backend_extra;
    auto model = [&](const std::string& name, const std::string& aliases, const std::string& cache) {
        y += "  - name: " + name + "\n";
        if (!aliases.empty()) y += "    aliases: " + aliases + "\n";
        y += "    backend: sim\n    upstream_model: m\n    cache: " + cache + "\n";
    };
    y += "models:\n";
    model("m", "[m-alias]", "{mode: " + o.mode + ", ttl: " + o.ttl + ", max_entry_size: " + o.max_entry + "}");
    model("m-always", "", "{mode: always, ttl: 60s}");
    model("m-off", "", "{mode: off}");
    model("m-ttl", "", "{mode: deterministic, ttl: 1s}");
    model("m-tiny", "", "{mode: deterministic, ttl: 60s, max_entry_size: 100}");
    model("m-ttl-ms", "", "{mode: deterministic, ttl: 1500ms}");
    return y;
}

class cache_env {
public:
    explicit cache_env(env_options o = {}) : opts_(std::move(o)) {
        if (opts_.redis && opts_.redis_url.empty()) redis = std::make_unique<redis_server>();
        sim = start_sim({"--model", "m", "--threads", "2"});
        proxy = start_proxy(cache_yaml(opts_, sim->port(), redis_url()));
    }

    std::string redis_url() const {
        if (!opts_.redis_url.empty()) return opts_.redis_url;
        return redis ? redis->url() : "";
    }
    // Another swapgate with the same config (same Redis, same sim).
    std::unique_ptr<child> second_proxy() const { return start_proxy(cache_yaml(opts_, sim->port(), redis_url())); }

    long long sim_requests() const { return sim_stats(sim->port())["requests"].get<long long>(); }

    http_response post(const std::string& path, const std::string& body,
                       const std::map<std::string, std::string>& headers = {}, int port = 0) const {
        http_client c(port ? port : proxy->port());
        return c.request("POST", path, body, headers);
    }
    http_response chat(const std::string& body, const std::map<std::string, std::string>& headers = {},
                       int port = 0) const {
        return post("/v1/chat/completions", body, headers, port);
    }
    std::string metrics(int port = 0) const {
        http_client c(port ? port : proxy->port());
        return c.request("GET", "/metrics").body;
    }
    double metric(const std::string& series, int port = 0) const { return cache::metric(metrics(port), series); }

    // swapgate stores an answer after the client has it (and a Redis SET is fire
    // and forget): a test that wants the entry in place waits for it. A mark is
    // taken before the request; wait_stored() then waits for `n` more stores to
    // land: Redis SETs processed by the server, or the in-process store's count.
    struct store_mark {
        double stored = 0;
        long long sets = 0;
    };
    store_mark mark(int port = 0) const {
        store_mark m;
        if (redis && redis->running()) m.sets = redis_set_calls(redis->port());
        else m.stored = stored_total(metrics(port));
        return m;
    }
    bool wait_stored(const store_mark& before, int n = 1, int port = 0) const {
        return eventually(
            [&] {
                if (redis && redis->running()) return redis_set_calls(redis->port()) >= before.sets + n;
                return stored_total(metrics(port)) >= before.stored + n;
            },
            5s);
    }

    std::unique_ptr<redis_server> redis;
    std::unique_ptr<child> sim;
    std::unique_ptr<child> proxy;

private:
    env_options opts_;
};

// A deterministic chat body: model, one user message, temperature 0, `extra` members.
inline std::string det_body(const std::string& model, const std::string& prompt = "hello there",
                            const std::string& extra = "") {
    std::string b = R"({"model":")" + model + R"(","messages":[{"role":"user","content":)" + json(prompt).dump() +
                    R"(}],"temperature":0)";
    if (!extra.empty()) b += "," + extra;
    return b + "}";
}

inline json body_json(const http_response& r) { return json::parse(r.body, nullptr, false); }

}  // namespace swapgate::test::cache
