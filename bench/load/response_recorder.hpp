// Turns one HTTP response (status, a few headers, body bytes with arrival times) into a
// request_result: TTFT, inter-token gaps, output tokens, mid-stream errors. No I/O, so the
// whole measurement logic is testable without sockets. One instance per request.
#pragma once
#include "bench/load/sse_parser.hpp"
#include "bench/load/stats.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace swapgate::bench {

using bench_clock = std::chrono::steady_clock;

class response_recorder {
public:
    // `sent`: when the request started to be written; all durations are measured from it.
    explicit response_recorder(bench_clock::time_point sent) : sent_(sent) {}

    void on_headers(int status, std::string_view content_type, std::string_view cache_header);
    // Body bytes that arrived at `t`. Returns false if the stream cannot be parsed further.
    bool on_body(std::string_view bytes, bench_clock::time_point t);
    // The response completed at `end`.
    request_result finish(bench_clock::time_point end);
    // The exchange failed at `end` (connect, read or timeout).
    request_result fail(request_result::failure why, bench_clock::time_point end);

private:
    void on_event(const sse_event& e);
    double ms_since_sent(bench_clock::time_point t) const;

    bench_clock::time_point sent_;
    bench_clock::time_point now_{};            // arrival time of the bytes being parsed
    bench_clock::time_point last_content_{};
    bool sse_ = false;
    bool any_content_ = false;
    sse_parser parser_;
    std::string body_;                        // non-stream 2xx bodies, for usage
    std::uint64_t content_events_ = 0;
    std::optional<std::uint64_t> usage_tokens_;
    request_result result_;
};

// Exposed for tests: does this chunk of a streamed completion carry generated output
// (delta.content / delta.reasoning_content / delta.tool_calls, or text for /completions)?
bool chunk_has_content(std::string_view json_data);

}  // namespace swapgate::bench
