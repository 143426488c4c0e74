// Loading config text in tests: an environment from a map, and error lookups.
#pragma once
#include "config/config.hpp"

#include <algorithm>
#include <map>
#include <string>

namespace swapgate::config {

inline env_lookup env_of(std::map<std::string, std::string> vars) {
    return [vars](const std::string& k) -> std::optional<std::string> {
        auto it = vars.find(k);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

inline load_result load(const std::string& yaml, std::map<std::string, std::string> vars = {}) {
    return load_string(yaml, env_of(std::move(vars)));
}

inline bool has_error(const load_result& r, const std::string& text) {
    return std::any_of(r.errors.begin(), r.errors.end(),
                       [&](const std::string& e) { return e.find(text) != std::string::npos; });
}

inline std::string all(const load_result& r) {
    std::string s;
    for (const auto& e : r.errors) s += e + "\n";
    return s;
}

}  // namespace swapgate::config
