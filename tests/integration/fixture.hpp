// Shared pieces of the integration tests: start swapgate and swapgate-sim as
// child processes on free loopback ports, with a config written per test.
#pragma once
#include "harness.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>
#include <cstdio>

namespace swapgate::test {

using json = nlohmann::json;

inline std::string chat_body(const std::string& model, bool stream, const std::string& extra = "") {
    std::string b = R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hello there"}])";
    if (stream) b += R"(,"stream":true)";
    if (!extra.empty()) b += "," + extra;
    return b + "}";
}

// Starts swapgate with `yaml` (which must not set listen) on a free port.
inline std::unique_ptr<child> start_proxy(const std::string& yaml, std::vector<std::string> extra_args = {}) {
    std::string dir = temp_dir();
    std::string path = dir + "/swapgate.yaml";
    write_file(path, "listen: 127.0.0.1:0\n" + yaml);
    std::vector<std::string> argv{SWAPGATE_BIN, "--config", path, "--threads", "2"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    return start_server(argv);
}

inline std::unique_ptr<child> start_sim(std::vector<std::string> args = {}) {
    std::vector<std::string> argv{SWAPGATE_SIM_BIN, "--listen", "127.0.0.1:0", "--quiet"};
    argv.insert(argv.end(), args.begin(), args.end());
    return start_server(argv);
}

inline json sim_stats(int sim_port) {
    http_client c(sim_port);
    auto r = c.request("GET", "/sim/stats");
    return json::parse(r.body);
}

// A backend + one model "m" (alias "fast") pointing at `url`, with timeouts.
inline std::string one_model_config(const std::string& url, const std::string& backend_extra = "",
                                    const std::string& top_extra = "") {
    return top_extra + "backends:\n  up:\n    url: " + url + "\n" + backend_extra +
           "models:\n  - name: m\n    aliases: [fast]\n    backend: up\n    upstream_model: upstream-m\n";
}

// A chunked HTTP body made of `pieces` (no terminating chunk).
inline std::string chunked(const std::vector<std::string>& pieces) {
    std::string out;
    for (const auto& p : pieces) {
        char size[20];
        std::snprintf(size, sizeof size, "%zx\r\n", p.size());
        out += size + p + "\r\n";
    }
    return out;
}

inline const std::string sse_head =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

inline std::string url_of(int port) { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }

}  // namespace swapgate::test
