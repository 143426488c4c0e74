#include "bench/load/run_control.hpp"

#include <gtest/gtest.h>

namespace swapgate::bench {
namespace {

using std::chrono::milliseconds;
const bench_clock::time_point t0{};

TEST(RunControl, RequestCountPlusWarmup) {
    run_control c(2, 3, std::nullopt, t0);
    std::vector<std::uint64_t> issued;
    while (auto i = c.claim(t0)) issued.push_back(*i);
    EXPECT_EQ(issued, (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
    EXPECT_FALSE(c.measured(1));
    EXPECT_TRUE(c.measured(2));
}

TEST(RunControl, DurationWindowOpensAtFirstMeasuredRequest) {
    run_control c(1, std::nullopt, 1.0, t0);
    EXPECT_EQ(c.claim(t0), 0u);                          // warmup
    EXPECT_EQ(c.claim(t0 + milliseconds(500)), 1u);      // window opens at 0.5 s
    EXPECT_EQ(c.claim(t0 + milliseconds(1400)), 2u);     // 0.9 s into the window
    EXPECT_FALSE(c.window_closed(t0 + milliseconds(1499)));
    EXPECT_FALSE(c.claim(t0 + milliseconds(1500)));      // 1.0 s: closed
    EXPECT_TRUE(c.window_closed(t0 + milliseconds(1500)));
}

TEST(RunControl, CompletionsAndMeasuredDuration) {
    run_control c(1, 10, std::nullopt, t0);
    c.claim(t0);
    c.claim(t0 + milliseconds(100));
    c.completed(0, false, t0 + milliseconds(50));    // warmup: not counted
    c.completed(1, true, t0 + milliseconds(2100));
    EXPECT_EQ(c.done(), 1u);
    EXPECT_EQ(c.errors(), 1u);
    EXPECT_DOUBLE_EQ(c.measured_duration_s(), 2.0);
}

TEST(RunControl, TraceAdmitAndStop) {
    run_control c(0, 2, std::nullopt, t0);
    EXPECT_TRUE(c.admit(0, t0));
    EXPECT_TRUE(c.admit(1, t0));
    EXPECT_FALSE(c.admit(2, t0));
    run_control d(0, std::nullopt, std::nullopt, t0);
    EXPECT_TRUE(d.admit(0, t0));
    d.stop();
    EXPECT_FALSE(d.admit(1, t0));
    EXPECT_FALSE(d.claim(t0));
}

}  // namespace
}  // namespace swapgate::bench
