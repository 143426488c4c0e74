// The circuit breakers of the backends (routing/breaker.hpp), shared by all
// sessions behind one mutex, with their state in the metrics; and each
// backend's recent time to first byte, for wait-or-go-remote.
#pragma once
#include "proxy/metrics.hpp"
#include "routing/breaker.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace swapgate::proxy {

class breaker_board {
public:
    breaker_board(routing::breaker_settings s, metrics& m) : s_(s), m_(m) {}

    bool allow(const std::string& backend) {
        std::lock_guard lock(mu_);
        auto& b = get(backend);
        bool ok = b.allow(std::chrono::steady_clock::now());
        publish(backend, b);
        return ok;
    }
    // ok: the backend answered (any status below 500 but 429); else it failed.
    void record(const std::string& backend, bool ok) {
        std::lock_guard lock(mu_);
        auto& b = get(backend);
        auto now = std::chrono::steady_clock::now();
        if (ok) b.success(now);
        else b.failure(now);
        publish(backend, b);
    }
    void abandoned(const std::string& backend) {
        std::lock_guard lock(mu_);
        get(backend).abandoned();
    }
    // A successful exchange's time from sending the request to the first
    // response byte (the whole answer when not streamed), in ms.
    void first_byte(const std::string& backend, double ms) {
        std::lock_guard lock(mu_);
        auto it = first_byte_ms_.find(backend);  // (no key copy once the backend is known)
        if (it == first_byte_ms_.end()) first_byte_ms_.emplace(backend, ms);
        else it->second += 0.2 * (ms - it->second);  // moving average, ~the last 5 answers
    }
    // The moving average; nullopt before the backend's first answer.
    std::optional<double> expected_first_byte_ms(const std::string& backend) {
        std::lock_guard lock(mu_);
        auto it = first_byte_ms_.find(backend);
        if (it == first_byte_ms_.end()) return std::nullopt;
        return it->second;
    }
    std::string state(const std::string& backend) {
        std::lock_guard lock(mu_);
        return std::string(routing::to_string(get(backend).current(std::chrono::steady_clock::now())));
    }

private:
    routing::breaker_settings s_;
    metrics& m_;
    std::mutex mu_;
    std::map<std::string, routing::circuit_breaker> by_backend_;
    std::map<std::string, double> first_byte_ms_;

    routing::circuit_breaker& get(const std::string& name) {
        auto it = by_backend_.find(name);
        if (it == by_backend_.end()) it = by_backend_.emplace(name, routing::circuit_breaker(s_)).first;
        return it->second;
    }
    void publish(const std::string& name, const routing::circuit_breaker& b) {
        auto st = b.current(std::chrono::steady_clock::now());
        m_.breaker_state.set({name}, st == routing::circuit_breaker::state::closed ? 0 : st == routing::circuit_breaker::state::half_open ? 1 : 2);
    }
};

}  // namespace swapgate::proxy
