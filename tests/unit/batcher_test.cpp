#include "routing/batcher.hpp"

#include <gtest/gtest.h>

namespace swapgate::routing {
namespace {

using namespace std::chrono_literals;
using ids = std::vector<std::vector<embed_batcher::request_id>>;

TEST(EmbedBatcher, LoneRequestGoesAtOnce) {
    embed_batcher b({256, 10000, 100ms, 1});
    embed_batcher::time_point t{};
    b.arrive(t, 1, 3, 30);
    EXPECT_EQ(b.take_batches(), (ids{{1}}));
    EXPECT_FALSE(b.next_wakeup());
}

TEST(EmbedBatcher, RequestsGatherWhileBusyAndGoWhenTheSlotFrees) {
    embed_batcher b({256, 10000, 100ms, 1});
    embed_batcher::time_point t{};
    b.arrive(t, 1, 1, 10);
    b.take_batches();
    b.arrive(t + 5ms, 2, 1, 10);
    b.arrive(t + 6ms, 3, 2, 10);
    EXPECT_TRUE(b.take_batches().empty());
    EXPECT_EQ(*b.next_wakeup(), t + 105ms);
    b.call_finished(t + 40ms);
    EXPECT_EQ(b.take_batches(), (ids{{2, 3}}));
    EXPECT_EQ(b.running(), 1);
}

TEST(EmbedBatcher, WindowBoundsTheWaitEvenWhenBusy) {
    embed_batcher b({256, 10000, 100ms, 1});
    embed_batcher::time_point t{};
    b.arrive(t, 1, 1, 10);
    b.take_batches();
    b.arrive(t + 10ms, 2, 1, 10);
    b.tick(t + 109ms);
    EXPECT_TRUE(b.take_batches().empty());
    b.tick(t + 110ms);
    EXPECT_EQ(b.take_batches(), (ids{{2}}));
    EXPECT_EQ(b.running(), 2);
}

TEST(EmbedBatcher, LimitsSplitBatchesAndOversizedGoAlone) {
    embed_batcher b({4, 100, 100ms, 1});
    embed_batcher::time_point t{};
    b.arrive(t, 1, 1, 1);
    b.take_batches();
    b.arrive(t, 2, 3, 10);
    b.arrive(t, 3, 2, 10);   // 3 + 2 > 4 inputs: next batch
    b.arrive(t, 4, 9, 500);  // above both limits: alone
    b.arrive(t, 5, 1, 10);
    b.call_finished(t + 1ms);
    EXPECT_EQ(b.take_batches(), (ids{{2}}));
    b.call_finished(t + 2ms);
    EXPECT_EQ(b.take_batches(), (ids{{3}}));
    b.call_finished(t + 3ms);
    EXPECT_EQ(b.take_batches(), (ids{{4}}));
    b.call_finished(t + 4ms);
    EXPECT_EQ(b.take_batches(), (ids{{5}}));
}

TEST(EmbedBatcher, CancelledWaiterLeavesTheQueue) {
    embed_batcher b({256, 10000, 100ms, 1});
    embed_batcher::time_point t{};
    b.arrive(t, 1, 1, 1);
    b.take_batches();
    b.arrive(t, 2, 1, 1);
    b.arrive(t, 3, 1, 1);
    b.cancel(2);
    b.call_finished(t + 1ms);
    EXPECT_EQ(b.take_batches(), (ids{{3}}));
}

TEST(EmbedBatcher, SeveralSlots) {
    embed_batcher b({256, 10000, 100ms, 2});
    embed_batcher::time_point t{};
    b.arrive(t, 1, 1, 1);
    b.arrive(t, 2, 1, 1);
    EXPECT_EQ(b.take_batches(), (ids{{1}, {2}}));
    b.arrive(t, 3, 1, 1);
    b.arrive(t, 4, 1, 1);
    EXPECT_TRUE(b.take_batches().empty());
    b.call_finished(t + 1ms);
    EXPECT_EQ(b.take_batches(), (ids{{3, 4}}));
}

}  // namespace
}  // namespace swapgate::routing
