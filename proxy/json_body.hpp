// Request bodies of the OpenAI endpoints: validation that names the offending
// field, and rewriting of `model` that leaves every other byte untouched.
#pragma once
#include "proxy/errors.hpp"

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace swapgate::proxy {

enum class endpoint { chat, completions, embeddings };
const char* endpoint_name(endpoint e);
const char* endpoint_path(endpoint e);  // "/chat/completions", ...

// What the proxy needs to know about a validated request.
struct request_info {
    std::string model;
    bool stream = false;
    bool include_usage = false;
};

// Parses `body` (non-throwing) and validates it for `ep`. On success fills `info`.
std::optional<api_error> parse_request(endpoint ep, std::string_view body, request_info& info);

// Byte span [begin, end) of the string token (quotes included) that is the value
// of top-level `key`; the last one when the key repeats. nullopt when absent,
// not a string, or the text is not a JSON object.
std::optional<std::pair<size_t, size_t>> find_top_level_string(std::string_view body, std::string_view key);

// Byte span [begin, end) of the value (any JSON type) of top-level `key`; the last
// one when the key repeats. Scans without building a DOM, so it is cheap on large bodies.
std::optional<std::pair<size_t, size_t>> find_top_level_value(std::string_view body, std::string_view key);

// Token usage reported in a response body or stream event ({"usage":{...}}), -1 when absent.
struct usage_counts {
    long long prompt = -1;
    long long completion = -1;
};
usage_counts extract_usage(std::string_view json_text);

// `body` (validated by parse_request) with the top-level "model" value replaced
// by `model`; only those bytes change.
std::string rewrite_model(std::string_view body, std::string_view model);

// `s` as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

}  // namespace swapgate::proxy
