// Helpers of the swap integration tests (swap_test.cpp, swap_driver_test.cpp).
#pragma once
#include "swap_fixture.hpp"

#include <atomic>
#include <cstdlib>
#include <thread>

namespace swapgate::test::swap {

using sclock = std::chrono::steady_clock;

// A request sent from its own thread (its own connection).
class bg_request {
public:
    bg_request(int port, std::string body, std::chrono::milliseconds timeout = 15s)
        : t_([this, port, body = std::move(body), timeout] {
              try {
                  http_client c(port, timeout);
                  r_ = c.request("POST", "/v1/chat/completions", body);
              } catch (const std::exception& e) {
                  error_ = e.what();
              }
              done_ = true;
          }) {}
    ~bg_request() {
        if (t_.joinable()) t_.join();
    }
    bool done() const { return done_; }
    const http_response& get() {
        if (t_.joinable()) t_.join();
        if (!error_.empty()) throw std::runtime_error("background request: " + error_);
        return r_;
    }

private:
    http_response r_;
    std::string error_;
    std::atomic<bool> done_{false};
    std::thread t_;
};

inline bool resident_state(const std::string& s) {
    return s == "loading" || s == "loaded" || s == "draining" || s == "unloading";
}

inline long long metric_value(const std::string& metrics, const std::string& series) {
    auto at = metrics.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::atoll(metrics.c_str() + at + series.size() + 2);
}

inline json error_of(const http_response& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return json();
    return j["error"];
}

inline bool is_sleeping(int sim_port) {
    http_client c(sim_port);
    auto r = c.request("GET", "/is_sleeping");
    return r.status == 200 && json::parse(r.body).value("is_sleeping", false);
}

inline json ollama_ps(int sim_port) {
    http_client c(sim_port);
    return json::parse(c.request("GET", "/api/ps").body);
}

}  // namespace swapgate::test::swap
