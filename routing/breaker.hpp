// A circuit breaker per backend: after `failure_threshold` consecutive failures
// it opens, and requests skip the backend (no time lost per request); after
// `cooldown` one probe request is let through (half-open); its success closes
// the breaker, its failure opens it again for another (doubled, capped)
// cooldown. Pure: time is passed in. Not thread-safe (the proxy guards it).
#pragma once
#include <chrono>
#include <cstdint>
#include <string_view>

namespace swapgate::routing {

struct breaker_settings {
    int failure_threshold = 5;
    std::chrono::milliseconds cooldown{10000};
    std::chrono::milliseconds max_cooldown{120000};
};

class circuit_breaker {
public:
    using time_point = std::chrono::steady_clock::time_point;
    enum class state { closed, open, half_open };

    explicit circuit_breaker(breaker_settings s = {}) : s_(s), cooldown_(s.cooldown) {}

    // May a request go now? In half-open, true once (the probe) until its outcome.
    bool allow(time_point now);
    void success(time_point now);
    void failure(time_point now);
    // The probe (or any request let through) ended without an outcome (client left).
    void abandoned();

    state current(time_point now) const;
    int consecutive_failures() const { return failures_; }
    std::uint64_t opened_count() const { return opened_; }
    // When an open breaker lets the next probe through.
    time_point retry_at() const { return open_until_; }

private:
    breaker_settings s_;
    state st_ = state::closed;
    int failures_ = 0;
    bool probing_ = false;
    time_point open_until_{};
    std::chrono::milliseconds cooldown_;
    std::uint64_t opened_ = 0;

    void open(time_point now);
};

std::string_view to_string(circuit_breaker::state s);

// Exponential backoff with full jitter: a delay in [0, min(cap, base * 2^attempt)]
// scaled by `unit_random` in [0, 1). Pure (the caller supplies the randomness).
std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                        double unit_random);

}  // namespace swapgate::routing
