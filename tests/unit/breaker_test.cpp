#include "routing/breaker.hpp"

#include <gtest/gtest.h>

namespace swapgate::routing {
namespace {

using namespace std::chrono_literals;
using tp = circuit_breaker::time_point;

TEST(Breaker, OpensAfterConsecutiveFailuresOnly) {
    circuit_breaker b({3, 1000ms, 8000ms});
    tp t{};
    b.failure(t);
    b.failure(t);
    b.success(t);  // resets the count
    b.failure(t);
    b.failure(t);
    EXPECT_TRUE(b.allow(t));
    EXPECT_EQ(b.current(t), circuit_breaker::state::closed);
    b.failure(t);
    EXPECT_EQ(b.current(t), circuit_breaker::state::open);
    EXPECT_FALSE(b.allow(t + 999ms));
    EXPECT_EQ(b.opened_count(), 1u);
}

TEST(Breaker, HalfOpenLetsOneProbeThroughThenClosesOrReopensLonger) {
    circuit_breaker b({1, 1000ms, 3000ms});
    tp t{};
    b.failure(t);
    EXPECT_FALSE(b.allow(t + 500ms));
    EXPECT_TRUE(b.allow(t + 1000ms));   // the probe
    EXPECT_FALSE(b.allow(t + 1001ms));  // only one at a time
    b.failure(t + 1100ms);              // probe failed: open for 2 s now
    EXPECT_FALSE(b.allow(t + 2900ms));
    EXPECT_TRUE(b.allow(t + 3100ms));
    b.failure(t + 3100ms);              // 4 s, capped at 3 s
    EXPECT_FALSE(b.allow(t + 6000ms));
    EXPECT_TRUE(b.allow(t + 6100ms));
    b.success(t + 6200ms);
    EXPECT_EQ(b.current(t + 6200ms), circuit_breaker::state::closed);
    EXPECT_TRUE(b.allow(t + 6200ms));
    b.failure(t + 6300ms);  // back to the initial cooldown after a success
    EXPECT_TRUE(b.allow(t + 7300ms));
}

TEST(Breaker, AbandonedProbeFreesTheProbeSlot) {
    circuit_breaker b({1, 100ms, 1000ms});
    tp t{};
    b.failure(t);
    EXPECT_TRUE(b.allow(t + 100ms));
    b.abandoned();
    EXPECT_TRUE(b.allow(t + 101ms));
}

TEST(Backoff, GrowsExponentiallyWithinTheCapAndJitters) {
    EXPECT_EQ(backoff_delay(0, 100ms, 2000ms, 0.999).count(), 99);
    EXPECT_EQ(backoff_delay(3, 100ms, 2000ms, 0.5).count(), 400);
    EXPECT_EQ(backoff_delay(10, 100ms, 2000ms, 0.5).count(), 1000);
    EXPECT_EQ(backoff_delay(2, 100ms, 2000ms, 0.0).count(), 0);
}

}  // namespace
}  // namespace swapgate::routing
