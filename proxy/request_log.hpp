// One structured JSON line per request on stderr. Never contains keys.
#pragma once
#include <string>

namespace swapgate::proxy {

struct request_record {
    std::string request_id;
    std::string method;
    std::string path;
    std::string model;    // as the client asked
    std::string model_label;  // for metrics: the configured name it resolved to, or "unknown" (bounded set)
    std::string backend;  // empty when no backend was involved
    std::string upstream_model;
    int status = 0;
    bool stream = false;
    double duration_ms = 0;
    double ttfb_ms = -1;  // -1 = no upstream body byte
    long long prompt_tokens = -1;  // -1 = not reported
    long long completion_tokens = -1;
    std::string error;  // our error code or stream end reason
    std::string cache;  // X-Swapgate-Cache value; empty when the cache was not involved
    bool coalesced = false;  // answered by joining an identical request's upstream call
};

// Serialises a record as one JSON line (with the trailing newline).
std::string format_record(const request_record& r);
// Writes a line to stderr atomically (one write call).
void write_log_line(const std::string& line);
// A free-form event line: {"ts":..,"level":..,"event":..,"message":..}.
void log_event(const char* level, const std::string& event, const std::string& message);

}  // namespace swapgate::proxy
