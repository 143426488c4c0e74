// JSONL trace replay input: one request per line with its arrival offset. Parsing is strict
// and every error names the line number and the field. No Asio.
//
//   {"t":0.120,"model":"a","messages":[...],"stream":true,"max_tokens":50,
//    "endpoint":"chat","extra":{...}}
//
// `t` (seconds, >= 0) and `model` are required; the endpoint's input is required too:
// `messages` (chat), `prompt` (completions), `input` (embeddings). `endpoint` defaults to
// --endpoint. Blank lines are skipped. Entries are returned sorted by `t` (stable).
#pragma once
#include "bench/load/workload.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace swapgate::bench {

struct trace_entry {
    double t_s = 0;
    std::size_t line = 0;
    request_spec spec;
};

// Settings from the command line that apply to every trace line.
struct trace_defaults {
    endpoint ep = endpoint::chat;
    bool include_usage = false;
    std::string extra;   // JSON object text; merged before the line's own `extra`
};

struct trace_result {
    std::vector<trace_entry> entries;
    std::string error;   // "trace line N: ..." ; empty on success
    bool ok() const { return error.empty(); }
};

trace_result parse_trace(std::string_view text, const trace_defaults& defaults);
trace_result load_trace(const std::string& path, const trace_defaults& defaults);

}  // namespace swapgate::bench
