// The residency parts of the configuration: devices, scheduler, per-model
// serving keys, the GGUF memory estimate and the mapping to scheduler inputs.
#include "config/config.hpp"
#include "config_helpers.hpp"
#include "config/gguf.hpp"
#include "routing/residency.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <unistd.h>

namespace swapgate::config {
namespace {

const char* managed = R"(
devices:
  gpu0: {budget_mb: 12000, max_loaded: 3}
  cpu: {budget_mb: 32000}
scheduler: {policy: fifo, window: 50ms, max_wait: 20s, drain_timeout: 5s, max_loaded: 3}
backends:
  ollama: {url: "http://127.0.0.1:11434/v1"}
models:
  - name: qwen
    driver: process
    command: "llama-server -m ${DIR}/q.gguf --port ${PORT} --alias ${NAME} -c 8192"
    memory_mb: 6000
    pinned: true
    preload: true
    slots: 2
    ttl: 0
    max_queue: 5
    queue_timeout: 30s
    min_residency: 1s
    load_cost: 4s
    timeouts: {first_byte: 10s}
    env: {CUDA_VISIBLE_DEVICES: "0"}
  - name: llama
    driver: ollama
    backend: ollama
    upstream_model: "llama3.2:3b"
    device: cpu
    memory_mb: 3000
    watch_interval: 2s
  - name: plain
    backend: ollama
)";

TEST(ServingConfig, ReadsDevicesSchedulerAndModelKeys) {
    auto r = load(managed, {{"DIR", "/models"}});
    ASSERT_TRUE(r.cfg) << all(r);
    const auto& c = *r.cfg;
    ASSERT_EQ(c.devices.size(), 2u);
    EXPECT_EQ(c.devices[0].name, "gpu0");
    EXPECT_EQ(c.devices[0].budget_mb, 12000);
    EXPECT_EQ(c.devices[0].max_loaded, 3);
    EXPECT_EQ(c.devices[1].max_loaded, 2);
    EXPECT_EQ(c.scheduler.policy, "fifo");
    EXPECT_EQ(c.scheduler.window.count(), 50);
    ASSERT_TRUE(c.scheduler.max_wait);
    EXPECT_EQ(c.scheduler.max_wait->count(), 20000);
    const auto& q = c.models[0].serving;
    EXPECT_EQ(q.driver, driver_kind::process);
    // ${PORT} and ${NAME} stay for the driver; ${DIR} is the environment's.
    EXPECT_EQ(q.command, "llama-server -m /models/q.gguf --port ${PORT} --alias ${NAME} -c 8192");
    EXPECT_EQ(q.device, "gpu0");  // the first device by default
    EXPECT_TRUE(q.pinned);
    EXPECT_TRUE(q.preload);
    EXPECT_EQ(q.slots, 2);
    EXPECT_EQ(q.ttl.count(), 0);
    EXPECT_EQ(q.max_queue, 5);
    EXPECT_EQ(q.env.at("CUDA_VISIBLE_DEVICES"), "0");
    // A process model gets a backend of its own, built per start.
    EXPECT_EQ(c.models[0].backend, "qwen");
    ASSERT_TRUE(c.backends.count("qwen"));
    EXPECT_TRUE(c.backends.at("qwen").managed_process);
    EXPECT_EQ(c.backends.at("qwen").timeouts.first_byte.count(), 10000);
    EXPECT_EQ(c.models[1].serving.driver, driver_kind::ollama);
    EXPECT_EQ(c.models[1].serving.device, "cpu");
    EXPECT_EQ(c.models[1].serving.watch_interval.count(), 2000);
    EXPECT_EQ(c.models[0].serving.watch_interval.count(), 5000);  // the default
    EXPECT_FALSE(c.models[2].managed());
}

TEST(ServingConfig, ResidencyInputsMirrorTheConfig) {
    auto r = load(managed, {{"DIR", "/m"}});
    ASSERT_TRUE(r.cfg) << all(r);
    auto in = routing::residency_from(*r.cfg);
    EXPECT_EQ(in.settings.policy, routing::policy_kind::fifo);
    EXPECT_EQ(in.settings.max_loaded_global, 3);
    ASSERT_EQ(in.models.size(), 2u);  // "plain" has no driver
    EXPECT_EQ(in.config_index, (std::vector<std::size_t>{0, 1}));
    EXPECT_EQ(in.models[0].memory_mb, 6000);
    EXPECT_EQ(in.models[0].initial_load_cost.count(), 4000);
    ASSERT_TRUE(in.models[0].min_residency);
    EXPECT_EQ(in.models[0].min_residency->count(), 1000);
    EXPECT_EQ(in.models[1].kind, routing::lifecycle::ollama);
    std::vector<std::string> errors;
    routing::residency_inputs again;
    EXPECT_TRUE(routing::build_scheduler(*r.cfg, again, errors)) << (errors.empty() ? "" : errors[0]);
}

TEST(ServingConfig, NamesWhatIsWrong) {
    auto r = load(R"(
devices: {gpu0: {budget_mb: 8000}}
backends: {b: {url: "http://127.0.0.1:1/v1"}}
models:
  - {name: big, driver: process, command: "x --port ${PORT}", memory_mb: 9000}
  - {name: nocmd, driver: process, memory_mb: 100}
  - {name: nomem, driver: process, command: "x"}
  - {name: where, driver: process, command: "x", memory_mb: 10, device: gpu9}
  - {name: odd, driver: docker, backend: b}
  - {name: stray, backend: b, memory_mb: 10}
  - {name: both, driver: process, command: "x", memory_mb: 10, backend: b}
  - {name: ol, driver: ollama, memory_mb: 10}
  - {name: w, driver: ollama, backend: b, memory_mb: 10, watch_interval: often}
)");
    EXPECT_FALSE(r.cfg);
    EXPECT_TRUE(has_error(r, "models[0].memory_mb: 9000 MB does not fit device 'gpu0'")) << all(r);
    EXPECT_TRUE(has_error(r, "models[1].command: required for driver 'process'")) << all(r);
    EXPECT_TRUE(has_error(r, "models[2].memory_mb: required")) << all(r);
    EXPECT_TRUE(has_error(r, "models[3].device: unknown device 'gpu9' (known: gpu0)")) << all(r);
    EXPECT_TRUE(has_error(r, "models[4].driver: unknown driver 'docker'")) << all(r);
    EXPECT_TRUE(has_error(r, "models[5].driver: required with residency keys")) << all(r);
    EXPECT_TRUE(has_error(r, "models[6].backend: a 'process' model runs its own server")) << all(r);
    EXPECT_TRUE(has_error(r, "models[7].backend: required for driver 'ollama'")) << all(r);
    EXPECT_TRUE(has_error(r, "models[8].watch_interval: expected a duration")) << all(r);
}

TEST(ServingConfig, DevicesAreRequiredAndPolicyChecked) {
    auto r = load("scheduler: {policy: random}\nmodels:\n  - {name: a, driver: process, command: x, memory_mb: 1}\n");
    EXPECT_TRUE(has_error(r, "devices: required when a model has a driver")) << all(r);
    EXPECT_TRUE(has_error(r, "scheduler.policy: unknown policy 'random'")) << all(r);
    auto typo = load("devices: {gpu0: {budget: 10}}\n");
    EXPECT_TRUE(has_error(typo, "devices.gpu0.budget: unknown key 'budget'")) << all(typo);
    EXPECT_TRUE(has_error(typo, "devices.gpu0.budget_mb: required")) << all(typo);
}

TEST(ServingConfig, PreloadModelsFromTheEnvironment) {
    const char* yaml = R"(
devices: {gpu0: {budget_mb: 8000}}
models:
  - {name: a, driver: process, command: x, memory_mb: 1}
  - {name: b, driver: process, command: x, memory_mb: 1}
)";
    auto r = load(yaml, {{"PRELOAD_MODELS", "b, a"}});
    ASSERT_TRUE(r.cfg) << all(r);
    EXPECT_TRUE(r.cfg->models[0].serving.preload);
    EXPECT_TRUE(r.cfg->models[1].serving.preload);
    auto bad = load(yaml, {{"PRELOAD_MODELS", "a,zz"}});
    EXPECT_TRUE(has_error(bad, "PRELOAD_MODELS: unknown model 'zz'")) << all(bad);
}

// A minimal GGUF v3 file: header, then the metadata keys the estimate reads,
// plus a string array (the tokenizer's) that must be skipped correctly.
std::string write_gguf(const std::string& arch, std::uint32_t layers, std::uint32_t embd, std::uint32_t heads,
                       std::uint32_t kv_heads, size_t padding) {
    std::string b = "GGUF";
    auto u32 = [&](std::uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); };
    auto u64 = [&](std::uint64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); };
    auto str = [&](const std::string& s) {
        u64(s.size());
        b += s;
    };
    u32(3);
    u64(0);  // tensors
    u64(6);  // kv pairs
    str("general.architecture");
    u32(8);
    str(arch);
    str("tokenizer.ggml.tokens");
    u32(9);
    u32(8);
    u64(3);
    str("a");
    str("bb");
    str("ccc");
    for (auto [k, v] : {std::pair{"block_count", layers}, {"embedding_length", embd}, {"attention.head_count", heads},
                        {"attention.head_count_kv", kv_heads}}) {
        str(arch + "." + k);
        u32(4);
        u32(v);
    }
    b.append(padding, '\0');
    std::string path = "/tmp/swapgate-test-" + std::to_string(getpid()) + "-" + arch + ".gguf";
    std::ofstream(path, std::ios::binary) << b;
    return path;
}

TEST(Gguf, ReadsTheShapeAndEstimatesConservatively) {
    auto path = write_gguf("llama", 32, 4096, 32, 8, 4 << 20);
    std::string why;
    auto s = read_gguf_shape(path, why);
    ASSERT_TRUE(s) << why;
    EXPECT_EQ(s->architecture, "llama");
    EXPECT_EQ(s->block_count, 32);
    EXPECT_EQ(s->embedding_length, 4096);
    EXPECT_EQ(s->head_count_kv, 8);
    // Llama-3-8B shape at 8192 context: KV = 2 * 32 * 8192 * 1024 * 2 bytes = 1024 MB.
    long long gib4 = 4ll << 30;
    EXPECT_EQ(estimate_memory_mb(gib4, s, 8192), 4096 + 1024 + 256 /*max(256, 5% of 4096 = 204.8)*/);
    // Without a shape the KV cache is a quarter of the weights.
    EXPECT_EQ(estimate_memory_mb(gib4, std::nullopt, 8192), 4096 + 1024 + 256);
    std::remove(path.c_str());
}

TEST(Gguf, RejectsOtherFiles) {
    std::string path = "/tmp/swapgate-test-" + std::to_string(getpid()) + ".bin";
    std::ofstream(path) << "not a model";
    std::string why;
    EXPECT_FALSE(read_gguf_shape(path, why));
    EXPECT_NE(why.find("not a GGUF file"), std::string::npos) << why;
    std::remove(path.c_str());
    EXPECT_FALSE(read_gguf_shape("/nonexistent/x.gguf", why));
    EXPECT_NE(why.find("cannot read"), std::string::npos);
}

TEST(Gguf, ConfigEstimatesFromTheFile) {
    auto path = write_gguf("qwen2", 28, 3584, 28, 4, 8 << 20);
    auto r = load("devices: {gpu0: {budget_mb: 8000}}\nmodels:\n  - {name: q, driver: process, command: x, gguf: " +
                  path + ", context: 4096}\n");
    ASSERT_TRUE(r.cfg) << all(r);
    // 8 MB of weights + KV 2*28*4096*(3584/28*4)*2 bytes = 224 MB + 256 MB overhead.
    EXPECT_EQ(r.cfg->models[0].serving.memory_mb, 8 + 224 + 256 + 1);
    std::remove(path.c_str());
}

}  // namespace
}  // namespace swapgate::config
