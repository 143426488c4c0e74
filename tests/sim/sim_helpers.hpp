// Helpers shared by the swapgate-sim tests: start the binary, talk JSON to it.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace swapgate::sim_test {

using json = nlohmann::json;
using test::eventually;
using namespace std::chrono_literals;

// Starts swapgate-sim on an ephemeral port with `args` (plus --quiet).
std::unique_ptr<test::child> start_sim(std::vector<std::string> args = {});

// A chat request body with one user message.
json chat(const std::string& content, json extra = json::object());

// One request on a fresh connection; the body parsed as JSON (null when not JSON).
struct reply {
    int status = 0;
    json body;
    std::string raw;
    test::http_response http;
};
reply call(int port, const std::string& method, const std::string& path, const json& body = nullptr);

// Sends a streaming request and returns the parsed SSE payloads (the last is "[DONE]" as a string).
std::vector<json> stream(int port, const std::string& path, const json& body, test::http_response* head = nullptr);

json stats(int port);

// Milliseconds since `t`.
long long ms_since(std::chrono::steady_clock::time_point t);

}  // namespace swapgate::sim_test
