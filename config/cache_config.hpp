// Reading the response cache's configuration: the top-level `cache` section and
// each model's `cache` map. Private to config/.
#pragma once
#include "config/yaml_reader.hpp"

namespace swapgate::config {

void read_cache_section(yaml_reader& r, const YAML::Node& n, config& c);
void read_model_cache(yaml_reader& r, const YAML::Node& n, const std::string& path, model& m);
// After all models are read: semantic embedding models exist.
void finish_cache(yaml_reader& r, config& c, const std::vector<std::string>& paths);

}  // namespace swapgate::config
