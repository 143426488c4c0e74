// Process-level wiring: load the config, build the shared state, bind, run the
// I/O threads, and shut down gracefully on SIGINT/SIGTERM.
#pragma once
#include <optional>
#include <string>

namespace swapgate::proxy {

struct run_options {
    std::string config_path;
    std::optional<std::string> listen;  // overrides the config's listen
    std::optional<int> threads;
};

// Runs until shut down; returns the process exit code.
int run(const run_options& opts);
// Validates a config file, prints the result; 0 when valid.
int check_config(const std::string& path);

}  // namespace swapgate::proxy
