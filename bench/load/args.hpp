// Command-line parsing for swapgate-bench: argv in, validated options (or one error message
// naming the flag) out. No Asio, no I/O.
#pragma once
#include "bench/load/workload.hpp"

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace swapgate::bench {

// http://host[:port][/base]. An empty base path becomes "/v1".
struct target_url {
    std::string text;       // as given, for reports
    std::string host;       // without IPv6 brackets
    std::string port = "80";
    std::string base_path;  // no trailing slash, e.g. "/v1"
};

// Error message, or empty on success.
std::string parse_target_url(std::string_view text, target_url& out);

struct options {
    std::vector<target_url> targets;   // one, or two with --compare
    workload_config workload;
    unsigned concurrency = 1;          // closed loop (when rate is unset and no trace)
    std::optional<double> rate;        // open loop, requests per second
    unsigned max_inflight = 1024;
    std::optional<std::uint64_t> requests;
    std::optional<double> duration_s;  // defaults to 10 when neither requests nor a trace bounds the run
    std::uint64_t warmup = 0;
    std::string trace_path;
    double trace_speed = 1;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string api_key;
    double timeout_s = 120;
    unsigned threads = 1;
    std::string json_path;
    bool quiet = false;

    bool compare() const { return targets.size() == 2; }
    bool open_loop() const { return rate.has_value() || !trace_path.empty(); }
};

struct args_result {
    options opts;
    std::string error;   // names the offending flag; empty on success
    bool help = false;   // --help: print usage_text() and exit 0
    bool ok() const { return error.empty(); }
};

// `args` excludes the program name.
args_result parse_args(const std::vector<std::string>& args);
std::string usage_text();
// The effective options as JSON, for the "args" member of --json output.
void options_to_json(const options& o, nlohmann::json& out);

}  // namespace swapgate::bench
