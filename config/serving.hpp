// Reading and checking the residency parts of the configuration: per-model
// serving keys (driver, command, memory, ...), `devices` and `scheduler`.
// Private to config/.
#pragma once
#include "config/yaml_reader.hpp"

namespace swapgate::config {

// The per-model keys this file reads, for the model's unknown-key check.
extern const std::initializer_list<const char*> serving_keys;

void read_serving(yaml_reader& r, const YAML::Node& n, const std::string& path, model& m);
void read_devices(yaml_reader& r, const YAML::Node& n, config& c);
void read_scheduler(yaml_reader& r, const YAML::Node& n, config& c);
// After all models are read: devices, memory figures (estimated from GGUF
// files where not declared), budgets, PRELOAD_MODELS, synthesized backends of
// `process` models. `paths[i]` is the key path of c.models[i].
void finish_serving(yaml_reader& r, const env_lookup& env, config& c, const std::vector<std::string>& paths);

}  // namespace swapgate::config
