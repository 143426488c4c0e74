#include "routing/residency.hpp"

namespace swapgate::routing {

namespace {

lifecycle kind_of(config::driver_kind d) {
    switch (d) {
        case config::driver_kind::ollama: return lifecycle::ollama;
        case config::driver_kind::vllm_sleep: return lifecycle::vllm_sleep;
        case config::driver_kind::static_server: return lifecycle::static_server;
        default: return lifecycle::process;
    }
}

}  // namespace

residency_inputs residency_from(const config::config& cfg) {
    residency_inputs in;
    const auto& s = cfg.scheduler;
    in.settings.policy = s.policy == "fifo" ? policy_kind::fifo : s.policy == "lru" ? policy_kind::lru : policy_kind::value;
    in.settings.window = s.window;
    in.settings.max_wait = s.max_wait;
    in.settings.drain_timeout = s.drain_timeout;
    in.settings.max_loaded_global = s.max_loaded;
    for (const auto& d : cfg.devices) in.devices.push_back({d.name, d.budget_mb, d.max_loaded});
    for (std::size_t i = 0; i < cfg.models.size(); ++i) {
        const auto& m = cfg.models[i];
        if (!m.managed()) continue;
        const auto& sv = m.serving;
        model_spec spec;
        spec.name = m.name;
        spec.device = sv.device;
        spec.kind = kind_of(sv.driver);
        spec.memory_mb = sv.memory_mb;
        spec.pinned = sv.pinned;
        spec.preload = sv.preload;
        spec.slots = sv.slots;
        spec.ttl = sv.ttl;
        spec.max_queue = sv.max_queue;
        spec.queue_timeout = sv.queue_timeout;
        spec.min_residency = sv.min_residency;
        spec.initial_load_cost = sv.initial_load_cost;
        in.models.push_back(std::move(spec));
        in.config_index.push_back(i);
    }
    return in;
}

std::optional<scheduler> build_scheduler(const config::config& cfg, residency_inputs& inputs,
                                         std::vector<std::string>& errors) {
    inputs = residency_from(cfg);
    auto b = scheduler::create(inputs.settings, inputs.devices, inputs.models);
    if (!b.value) {
        errors = std::move(b.errors);
        return std::nullopt;
    }
    return std::move(b.value);
}

}  // namespace swapgate::routing
