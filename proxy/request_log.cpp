#include "proxy/request_log.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace swapgate::proxy {
namespace {

std::string timestamp() {
    auto now = std::chrono::system_clock::now();
    auto t = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ms));
    return buf;
}

std::string dump(const nlohmann::ordered_json& j) {
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string format_record(const request_record& r) {
    nlohmann::ordered_json j;
    j["ts"] = timestamp();
    j["event"] = "request";
    j["request_id"] = r.request_id;
    j["method"] = r.method;
    j["path"] = r.path;
    if (!r.model.empty()) j["model"] = r.model;
    if (!r.backend.empty()) j["backend"] = r.backend;
    if (!r.upstream_model.empty()) j["upstream_model"] = r.upstream_model;
    j["status"] = r.status;
    j["stream"] = r.stream;
    j["duration_ms"] = std::round(r.duration_ms * 1000) / 1000;
    if (r.ttfb_ms >= 0) j["ttfb_ms"] = std::round(r.ttfb_ms * 1000) / 1000;
    if (r.prompt_tokens >= 0) j["prompt_tokens"] = r.prompt_tokens;
    if (r.completion_tokens >= 0) j["completion_tokens"] = r.completion_tokens;
    if (!r.error.empty()) j["error"] = r.error;
    if (!r.cache.empty()) j["cache"] = r.cache;
    if (r.coalesced) j["coalesced"] = true;
    return dump(j);
}

void write_log_line(const std::string& line) {
    // One write(2) per line keeps lines whole across threads (lines are far below PIPE_BUF-sized
    // interleaving concerns for regular files and terminals).
    ssize_t rc = ::write(STDERR_FILENO, line.data(), line.size());
    (void)rc;
}

void log_event(const char* level, const std::string& event, const std::string& message) {
    nlohmann::ordered_json j;
    j["ts"] = timestamp();
    j["level"] = level;
    j["event"] = event;
    j["message"] = message;
    write_log_line(dump(j));
}

}  // namespace swapgate::proxy
