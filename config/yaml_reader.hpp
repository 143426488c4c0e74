// Reads a yaml-cpp tree while tracking the key path of every node, so that each
// error names exactly where it is ("backends.local.timeouts.connect: ...").
// Private to config/: yaml-cpp does not leak out of this module.
#pragma once
#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace swapgate::config {

class yaml_reader {
public:
    yaml_reader(const env_lookup& env, std::vector<std::string>& errors) : env_(env), errors_(errors) {}

    void error(const std::string& path, const std::string& message);
    // Flags keys of `node` (a map) that are not in `known`, suggesting the closest.
    void check_keys(const YAML::Node& node, const std::string& path, std::initializer_list<const char*> known);
    void check_keys(const YAML::Node& node, const std::string& path, const std::vector<const char*>& known);

    // Scalars, with ${ENV} interpolation for strings. Each returns false (and
    // records an error) when the node is present but of the wrong kind.
    bool read_string(const YAML::Node& node, const std::string& path, std::string& out);
    bool read_bool(const YAML::Node& node, const std::string& path, bool& out);
    bool read_int(const YAML::Node& node, const std::string& path, long long lo, long long hi, long long& out);
    bool read_duration(const YAML::Node& node, const std::string& path, duration& out);
    bool read_size(const YAML::Node& node, const std::string& path, std::uint64_t& out);
    bool read_string_list(const YAML::Node& node, const std::string& path, std::vector<std::string>& out);

    // Expands ${VAR}, ${VAR:-default} and $$; false (with an error) on an unset variable.
    bool interpolate(const std::string& raw, const std::string& path, std::string& out);

private:
    const env_lookup& env_;
    std::vector<std::string>& errors_;
};

std::string child_path(const std::string& parent, const std::string& key);
std::string index_path(const std::string& parent, size_t i);

}  // namespace swapgate::config
