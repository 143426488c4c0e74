#include "bench/load/response_recorder.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace swapgate::bench {
namespace {

constexpr std::size_t max_json_body = 64u << 20;

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    return std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    });
}

bool non_empty_string(const nlohmann::json& obj, const char* key) {
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}

bool has_content(const nlohmann::json& j) {
    auto choices = j.find("choices");
    if (choices == j.end() || !choices->is_array()) return false;
    for (const auto& c : *choices) {
        if (!c.is_object()) continue;
        if (non_empty_string(c, "text")) return true;
        auto delta = c.find("delta");
        if (delta == c.end() || !delta->is_object()) continue;
        if (non_empty_string(*delta, "content") || non_empty_string(*delta, "reasoning_content")) return true;
        auto tools = delta->find("tool_calls");
        if (tools != delta->end() && tools->is_array() && !tools->empty()) return true;
    }
    return false;
}

std::optional<std::uint64_t> completion_tokens(const nlohmann::json& j) {
    auto usage = j.find("usage");
    if (usage == j.end() || !usage->is_object()) return std::nullopt;
    auto ct = usage->find("completion_tokens");
    if (ct == usage->end() || !ct->is_number_integer() || ct->get<std::int64_t>() < 0) return std::nullopt;
    return ct->get<std::uint64_t>();
}

}  // namespace

bool chunk_has_content(std::string_view json_data) {
    auto j = nlohmann::json::parse(json_data, nullptr, false);
    return !j.is_discarded() && j.is_object() && has_content(j);
}

double response_recorder::ms_since_sent(bench_clock::time_point t) const {
    return std::chrono::duration<double, std::milli>(t - sent_).count();
}

void response_recorder::on_headers(int status, std::string_view content_type, std::string_view cache_header) {
    result_.http_status = status;
    result_.cache.assign(cache_header);
    sse_ = status >= 200 && status < 300 && starts_with_ci(content_type, "text/event-stream");
}

bool response_recorder::on_body(std::string_view bytes, bench_clock::time_point t) {
    if (sse_) {
        now_ = t;
        return parser_.feed(bytes, [this](const sse_event& e) { on_event(e); });
    }
    // Error bodies are drained but not kept; 2xx JSON is kept to read usage at the end.
    if (result_.http_status >= 200 && result_.http_status < 300 && body_.size() + bytes.size() <= max_json_body)
        body_.append(bytes);
    return true;
}

void response_recorder::on_event(const sse_event& e) {
    if (e.data == "[DONE]") return;
    if (e.type == "error") {
        result_.stream_error = true;
        return;
    }
    auto j = nlohmann::json::parse(e.data, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return;
    if (auto err = j.find("error"); err != j.end() && !err->is_null()) {
        result_.stream_error = true;
        return;
    }
    if (auto tokens = completion_tokens(j)) usage_tokens_ = tokens;
    if (!has_content(j)) return;
    ++content_events_;
    if (!any_content_) {
        result_.ttft_ms = ms_since_sent(now_);
        any_content_ = true;
    } else {
        result_.itl_ms.push_back(std::chrono::duration<double, std::milli>(now_ - last_content_).count());
    }
    last_content_ = now_;
}

request_result response_recorder::finish(bench_clock::time_point end) {
    result_.latency_ms = ms_since_sent(end);
    if (sse_) {
        result_.output_tokens = usage_tokens_.value_or(content_events_);
    } else {
        result_.ttft_ms = result_.latency_ms;
        if (!body_.empty()) {
            auto j = nlohmann::json::parse(body_, nullptr, false);
            if (!j.is_discarded() && j.is_object()) result_.output_tokens = completion_tokens(j).value_or(0);
        }
    }
    return std::move(result_);
}

request_result response_recorder::fail(request_result::failure why, bench_clock::time_point end) {
    result_.transport = why;
    result_.latency_ms = ms_since_sent(end);
    return std::move(result_);
}

}  // namespace swapgate::bench
