// Runs the load described by the options against one or two targets and returns the
// summaries. Owns the I/O threads (one io_context per --threads), the progress line and
// SIGINT handling (first Ctrl-C stops issuing, a second one kills the process).
#pragma once
#include "bench/load/args.hpp"
#include "bench/load/stats.hpp"
#include "bench/load/trace.hpp"

#include <string>
#include <vector>

namespace swapgate::bench {

struct run_result {
    std::string fatal;                    // set when no run was possible (unresolvable / unreachable target)
    std::vector<target_summary> targets;  // one per target, in argument order
    std::uint64_t saturated = 0;          // open-loop arrivals that waited for --max-inflight
    bool connected = false;               // whether any connection was ever established
};

// `trace` is used when options.trace_path is set (entries already parsed and sorted).
run_result run_load(const options& o, const std::vector<trace_entry>& trace);

}  // namespace swapgate::bench
