#include "cache/request_key.hpp"

#include "cache/canonical.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

namespace swapgate::cache {
namespace {

constexpr std::array<std::string_view, 3> excluded = {"stream", "stream_options", "user"};

bool is_excluded(std::string_view name) {
    return name == "model" || std::find(excluded.begin(), excluded.end(), name) != excluded.end();
}

}  // namespace

std::span<const std::string_view> excluded_request_fields() { return excluded; }

void append_key_body(std::string& out, const nlohmann::json& body, std::string_view skip) {
    if (!body.is_object()) {
        append_canonical(out, body);
        return;
    }
    out += '{';
    bool first = true;
    for (const auto& [name, value] : body.items()) {
        if (value.is_null() || is_excluded(name) || (!skip.empty() && name == skip)) continue;
        if (!first) out += ',';
        first = false;
        append_canonical_string(out, name);
        out += ':';
        append_canonical(out, value);
    }
    out += '}';
}

std::string request_key_material(std::string_view endpoint, std::string_view resolved_model_id,
                                 std::string_view ns, const nlohmann::json& body) {
    std::string out = "[" + std::to_string(schema_version) + ",\"exact\",";
    append_canonical_string(out, endpoint);
    out += ',';
    append_canonical_string(out, resolved_model_id);
    out += ',';
    append_canonical_string(out, ns);
    out += ',';
    append_key_body(out, body);
    out += ']';
    return out;
}

key128 request_key(std::string_view endpoint, std::string_view resolved_model_id, std::string_view ns,
                   const nlohmann::json& body) {
    return hash128(request_key_material(endpoint, resolved_model_id, ns, body));
}

}  // namespace swapgate::cache
