// Presentation of results: the stdout table, the --json document and the progress line.
// Pure functions over summaries; no Asio, no I/O.
#pragma once
#include "bench/load/args.hpp"
#include "bench/load/stats.hpp"

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace swapgate::bench {

// B/A for the headline metrics in compare mode; nullopt where A is zero or missing.
std::vector<std::pair<std::string, std::optional<double>>> compare_ratios(const target_summary& a,
                                                                         const target_summary& b);

// Human-readable table (one column per target, plus B/A in compare mode).
std::string format_table(const std::vector<target_summary>& targets);

// The --json document: {"tool","version","args","targets",["ratios"]}.
void report_json(const options& o, const std::vector<target_summary>& targets, nlohmann::json& out);

// "elapsed 12s  done 3400  rps 283.1  errors 2" (no line ending).
std::string format_progress(double elapsed_s, std::uint64_t done, double rps, std::uint64_t errors);

}  // namespace swapgate::bench
