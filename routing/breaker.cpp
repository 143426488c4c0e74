#include "routing/breaker.hpp"

#include <algorithm>
#include <cmath>

namespace swapgate::routing {

void circuit_breaker::open(time_point now) {
    if (st_ != state::open) ++opened_;
    st_ = state::open;
    probing_ = false;
    open_until_ = now + cooldown_;
}

bool circuit_breaker::allow(time_point now) {
    switch (st_) {
        case state::closed: return true;
        case state::open:
            if (now < open_until_) return false;
            st_ = state::half_open;
            probing_ = true;
            return true;
        case state::half_open:
            if (probing_) return false;
            probing_ = true;
            return true;
    }
    return true;
}

void circuit_breaker::success(time_point) {
    st_ = state::closed;
    failures_ = 0;
    probing_ = false;
    cooldown_ = s_.cooldown;
}

void circuit_breaker::failure(time_point now) {
    ++failures_;
    if (st_ == state::half_open) {
        // The probe failed: open again, for longer.
        cooldown_ = std::min(s_.max_cooldown, cooldown_ * 2);
        open(now);
        return;
    }
    if (st_ == state::closed && failures_ >= s_.failure_threshold) open(now);
}

void circuit_breaker::abandoned() {
    if (st_ == state::half_open) probing_ = false;
}

circuit_breaker::state circuit_breaker::current(time_point now) const {
    if (st_ == state::open && now >= open_until_) return state::half_open;
    return st_;
}

std::string_view to_string(circuit_breaker::state s) {
    switch (s) {
        case circuit_breaker::state::closed: return "closed";
        case circuit_breaker::state::open: return "open";
        default: return "half_open";
    }
}

std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                        double unit_random) {
    double ceiling = std::min(static_cast<double>(cap.count()),
                              static_cast<double>(base.count()) * std::pow(2.0, std::max(0, attempt)));
    double r = std::clamp(unit_random, 0.0, 1.0);
    return std::chrono::milliseconds(static_cast<long long>(ceiling * r));
}

}  // namespace swapgate::routing
