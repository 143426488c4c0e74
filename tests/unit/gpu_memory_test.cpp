// Parsing nvidia-smi's compute-apps query (proxy/swap/gpu_memory.hpp).
#include "proxy/swap/gpu_memory.hpp"

#include <gtest/gtest.h>

namespace swapgate::proxy {
namespace {

TEST(GpuMemory, SumsTheLinesOfTheGivenProcesses) {
    const char* csv = "1234, 5000\n1240, 120\n999, 7000\n";
    EXPECT_EQ(sum_for_pids(csv, {1234, 1240}), 5120);  // a server and a process it forked
    EXPECT_EQ(sum_for_pids(csv, {999}), 7000);
    EXPECT_EQ(sum_for_pids(csv, {42}), std::nullopt);   // not on any GPU
    EXPECT_EQ(sum_for_pids("", {1234}), std::nullopt);  // nothing runs on the GPU
}

TEST(GpuMemory, SkipsWhatIsNotAFigure) {
    // No compute apps, unsupported fields, stray text: none counts.
    EXPECT_EQ(sum_for_pids("1234, [N/A]\n", {1234}), std::nullopt);
    EXPECT_EQ(sum_for_pids("No running processes found\n", {1234}), std::nullopt);
    EXPECT_EQ(sum_for_pids("1234, 300\r\n1234, 200", {1234}), 500);  // one process on two GPUs
}

}  // namespace
}  // namespace swapgate::proxy
