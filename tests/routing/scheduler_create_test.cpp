// create(): configuration errors are reported, each naming what is wrong.
#include "scheduler_harness.hpp"

namespace swapgate::routing::test {
namespace {

std::string joined(const scheduler_build& b) {
    std::string s;
    for (const auto& e : b.errors) s += e + "\n";
    return s;
}

TEST(SchedulerCreate, AcceptsAValidConfigAndStaticModelsAreResident) {
    auto st = make_model("remote", 1000, lifecycle::static_server);
    auto b = scheduler::create({}, {gpu(8000)}, {make_model("a", 4000), st});
    ASSERT_TRUE(b.value) << joined(b);
    EXPECT_EQ(b.value->view(0).state, model_state::unloaded);
    EXPECT_EQ(b.value->view(1).state, model_state::loaded);
    EXPECT_EQ(b.value->resident_mb(0), 1000);
}

TEST(SchedulerCreate, RejectsAModelLargerThanItsDevice) {
    auto b = scheduler::create({}, {gpu(8000)}, {make_model("a", 4000), make_model("huge-70b", 40000)});
    ASSERT_FALSE(b.value);
    ASSERT_EQ(b.errors.size(), 1u) << joined(b);
    EXPECT_NE(b.errors[0].find("huge-70b"), std::string::npos);
    EXPECT_NE(b.errors[0].find("gpu0"), std::string::npos);
}

TEST(SchedulerCreate, RejectsUnknownDeviceAndDuplicates) {
    auto b = scheduler::create({}, {gpu(8000), gpu(4000)},
                               {make_model("a", 1000, lifecycle::process, "gpu7"), make_model("b", 1), make_model("b", 1)});
    ASSERT_FALSE(b.value);
    const auto all = joined(b);
    EXPECT_NE(all.find("unknown device 'gpu7'"), std::string::npos) << all;
    EXPECT_NE(all.find("model 'b': defined twice"), std::string::npos) << all;
    EXPECT_NE(all.find("device 'gpu0': defined twice"), std::string::npos) << all;
}

TEST(SchedulerCreate, RejectsPinnedModelsThatLeaveNoRoom) {
    auto p = make_model("pinned", 6000);
    p.pinned = true;
    auto b = scheduler::create({}, {gpu(8000)}, {p, make_model("big", 4000), make_model("small", 1000)});
    ASSERT_FALSE(b.value);
    EXPECT_NE(joined(b).find("model 'big'"), std::string::npos) << joined(b);
    EXPECT_EQ(joined(b).find("model 'small'"), std::string::npos) << joined(b);

    auto p2 = p;
    p2.name = "pinned2";
    p2.memory_mb = 1000;
    p.memory_mb = 1000;
    auto c = scheduler::create({}, {gpu(8000, 2)}, {p, p2, make_model("x", 1000)});
    ASSERT_FALSE(c.value);
    EXPECT_NE(joined(c).find("max_loaded"), std::string::npos) << joined(c);
}

TEST(SchedulerCreate, RejectsNonsenseValues) {
    auto m = make_model("a", 100);
    m.slots = 0;
    m.max_queue = 0;
    scheduler_settings st;
    st.max_loaded_global = 0;
    auto b = scheduler::create(st, {gpu(0)}, {m});
    ASSERT_FALSE(b.value);
    const auto all = joined(b);
    EXPECT_NE(all.find("slots"), std::string::npos) << all;
    EXPECT_NE(all.find("max_queue"), std::string::npos) << all;
    EXPECT_NE(all.find("budget"), std::string::npos) << all;
    EXPECT_NE(all.find("max_loaded"), std::string::npos) << all;
}

}  // namespace
}  // namespace swapgate::routing::test
