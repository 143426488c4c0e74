// swapgate-bench: load generator for OpenAI-compatible endpoints. See README.md.
#include "bench/load/args.hpp"
#include "bench/load/report.hpp"
#include "bench/load/runner.hpp"
#include "bench/load/trace.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
    using namespace swapgate::bench;
    const std::vector<std::string> args(argv + 1, argv + argc);
    auto parsed = parse_args(args);
    if (parsed.help) {
        std::cout << usage_text();
        return 0;
    }
    if (!parsed.ok()) {
        std::cerr << "swapgate-bench: " << parsed.error << "\n(run with --help for usage)\n";
        return 2;
    }
    const options& o = parsed.opts;

    std::vector<trace_entry> trace;
    if (!o.trace_path.empty()) {
        auto t = load_trace(o.trace_path, trace_defaults{o.workload.ep, o.workload.include_usage, o.workload.extra});
        if (!t.ok()) {
            std::cerr << "swapgate-bench: --trace: " << t.error << "\n";
            return 2;
        }
        trace = std::move(t.entries);
    }

    std::signal(SIGPIPE, SIG_IGN);  // a peer closing mid-write must be an error code, not a kill
    auto result = run_load(o, trace);
    if (!result.fatal.empty()) {
        std::cerr << "swapgate-bench: " << result.fatal << "\n";
        return 1;
    }

    std::cout << format_table(result.targets);
    if (result.saturated > 0)
        std::cerr << "note: " << result.saturated << " arrivals waited for a free slot (--max-inflight "
                  << o.max_inflight << "); the offered rate was not reached\n";

    if (!o.json_path.empty()) {
        nlohmann::json doc;
        report_json(o, result.targets, doc);
        doc["saturated_arrivals"] = result.saturated;
        std::ofstream out(o.json_path);
        out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        if (!out) {
            std::cerr << "swapgate-bench: --json: cannot write " << o.json_path << "\n";
            return 1;
        }
    }
    if (!result.connected) {
        std::cerr << "swapgate-bench: no request could connect to any target\n";
        return 1;
    }
    return 0;
}
