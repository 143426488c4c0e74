// From the configuration to the swap scheduler's inputs: one model_spec per
// model with a driver, the devices and the policy settings. Pure.
#pragma once
#include "config/config.hpp"
#include "routing/scheduler.hpp"

#include <optional>
#include <string>
#include <vector>

namespace swapgate::routing {

struct residency_inputs {
    scheduler_settings settings;
    std::vector<device_spec> devices;
    std::vector<model_spec> models;
    // models[i] is config.models[config_index[i]].
    std::vector<std::size_t> config_index;
};

residency_inputs residency_from(const config::config& cfg);

// The scheduler for `cfg`, or nullopt (with every error in `errors`) when the
// configuration cannot be scheduled, e.g. pinned models that fill a device.
// No managed models: a scheduler with nothing to do is still returned.
std::optional<scheduler> build_scheduler(const config::config& cfg, residency_inputs& inputs,
                                         std::vector<std::string>& errors);

}  // namespace swapgate::routing
