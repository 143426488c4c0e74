// Helpers of the routing integration tests (routing_test.cpp, routing_pick_test.cpp,
// routing_managed_test.cpp, routing_batch_test.cpp): scripted replies and events,
// config pieces, metrics.
#pragma once
#include "swap_fixture.hpp"

#include <cstdlib>
#include <future>
#include <sstream>

namespace swapgate::test {

using swap::free_port;

inline std::string completion_json(const std::string& id, const std::string& text) {
    return R"({"id":")" + id + R"(","object":"chat.completion","model":"x","choices":[{"index":0,"message":{"role":"assistant","content":")" +
           text + R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}})";
}

inline scripted_upstream::reply ok_reply(const std::string& id = "ok", const std::string& text = "fine") {
    return {{{http_reply(200, "application/json", completion_json(id, text)), {}}}};
}

inline scripted_upstream::reply status_reply(int status, const std::string& body) {
    return {{{http_reply(status, "application/json", body), {}}}};
}

// Stream event payloads (without "data: " and the blank line).
inline std::string role_event(const std::string& id) {
    return R"({"id":")" + id + R"(","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})";
}
inline std::string content_event(const std::string& id, const std::string& text) {
    return R"({"id":")" + id + R"(","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":")" + text +
           R"("},"finish_reason":null}]})";
}
inline std::string finish_event(const std::string& id) {
    return R"({"id":")" + id + R"(","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})";
}
inline std::string sse(const std::string& payload) { return "data: " + payload + "\n\n"; }

inline std::string backend(const std::string& name, const std::string& url, const std::string& extra = "") {
    return "  " + name + ":\n    url: " + url + "\n" + extra;
}

inline std::string dead_url() { return url_of(free_port()); }

// The value of one exact series in a Prometheus text page; -1 when absent.
inline double metric_value(const std::string& page, const std::string& series) {
    std::istringstream in(page);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(series + " ", 0) == 0) return std::strtod(line.c_str() + series.size() + 1, nullptr);
    return -1;
}

inline std::string metrics_of(int port) {
    http_client c(port);
    return c.request("GET", "/metrics").body;
}

inline std::string route_of(const http_response& r) { return r.header("x-swapgate-route"); }

inline bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

inline json body_of(const std::string& request) { return json::parse(request_body(request)); }

inline http_response post_chat(int port, const std::string& body, const std::map<std::string, std::string>& headers = {}) {
    http_client c(port);
    return c.request("POST", "/v1/chat/completions", body, headers);
}

inline int sim_requests(int sim_port) { return sim_stats(sim_port).value("requests", -1); }

// A local model on `local_url` falling back to "hosted" on `hosted_url`.
inline std::string local_then_hosted(const std::string& local_url, const std::string& hosted_url,
                              const std::string& hosted_extra = "", const std::string& top = "") {
    return top + "backends:\n" + backend("localb", local_url) + backend("hostedb", hosted_url, hosted_extra) +
           "models:\n"
           "  - name: local\n    backend: localb\n    fallback: [hosted]\n"
           "  - name: hosted\n    backend: hostedb\n";
}

// A managed local model (`process`, run by `local_command`) falling back to
// "hosted", an unmanaged sim on `sim_port`; `local_extra` adds keys to the local one.
inline std::string managed_local_then_hosted(const std::string& local_command, int sim_port, const std::string& local_extra) {
    return swap::devices_yaml(8000) + swap::scheduler_yaml() + "backends:\n" + backend("hostedb", url_of(sim_port)) +
           "models:\n" + swap::process_model("local", local_command, 4000, local_extra + "\nfallback: [hosted]") +
           "  - name: hosted\n    backend: hostedb\n";
}

}  // namespace swapgate::test
