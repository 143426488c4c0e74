#include "proxy/json_body.hpp"

#include <nlohmann/json.hpp>

namespace swapgate::proxy {
namespace {

using json = nlohmann::json;

const char* type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::object: return "an object";
        case json::value_t::array: return "an array";
        case json::value_t::string: return "a string";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::discarded: return "invalid";
        default: return "a number";
    }
}

api_error wrong_type(const std::string& param, const char* expected, const json& got) {
    return invalid_request("Invalid type for '" + param + "': expected " + expected + ", but got " + type_name(got) + ".",
                           param, "invalid_type");
}

api_error missing(const std::string& param) {
    return invalid_request("Missing required parameter: '" + param + "'.", param, "missing_required_parameter");
}

std::optional<api_error> check_messages(const json& j) {
    auto it = j.find("messages");
    if (it == j.end()) return missing("messages");
    if (!it->is_array()) return wrong_type("messages", "an array", *it);
    if (it->empty())
        return invalid_request("'messages' must contain at least one message.", "messages", "empty_array");
    for (size_t i = 0; i < it->size(); ++i) {
        const json& m = (*it)[i];
        std::string p = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) return wrong_type(p, "an object", m);
        auto role = m.find("role");
        if (role == m.end()) return missing(p + ".role");
        if (!role->is_string()) return wrong_type(p + ".role", "a string", *role);
        auto content = m.find("content");
        if (content != m.end() && !content->is_string() && !content->is_array() && !content->is_null())
            return wrong_type(p + ".content", "a string or an array of content parts", *content);
    }
    return std::nullopt;
}

std::optional<api_error> check_input(const json& j, const char* field) {
    auto it = j.find(field);
    if (it == j.end()) return missing(field);
    const json& v = *it;
    if (v.is_string()) return std::nullopt;
    if (!v.is_array()) return wrong_type(field, "a string or an array", v);
    if (v.empty())
        return invalid_request(std::string("'") + field + "' must not be an empty array.", field, "empty_array");
    for (size_t i = 0; i < v.size(); ++i) {
        const json& e = v[i];
        bool ok = e.is_string() || e.is_number_integer();
        if (e.is_array()) {
            ok = true;
            for (const auto& t : e) ok = ok && t.is_number_integer();
        }
        if (!ok)
            return wrong_type(std::string(field) + "[" + std::to_string(i) + "]", "a string or token integers", e);
    }
    return std::nullopt;
}

size_t skip_ws(std::string_view s, size_t i) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    return i;
}

// i at an opening quote; returns the index after the closing quote, or npos.
size_t skip_string(std::string_view s, size_t i) {
    for (++i; i < s.size(); ++i) {
        if (s[i] == '\\') ++i;
        else if (s[i] == '"') return i + 1;
    }
    return std::string_view::npos;
}

// i at the first byte of a value; returns the index after it, or npos.
size_t skip_value(std::string_view s, size_t i) {
    if (i >= s.size()) return std::string_view::npos;
    if (s[i] == '"') return skip_string(s, i);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < s.size()) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, i);
                if (i == std::string_view::npos) return i;
                continue;
            }
            if (c == '{' || c == '[') ++depth;
            else if (c == '}' || c == ']') {
                if (--depth == 0) return i + 1;
            }
            ++i;
        }
        return std::string_view::npos;
    }
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' &&
           s[i] != '\r' && s[i] != '\t')
        ++i;
    return i;
}

}  // namespace

const char* endpoint_name(endpoint e) {
    switch (e) {
        case endpoint::chat: return "chat";
        case endpoint::completions: return "completions";
        case endpoint::embeddings: return "embeddings";
    }
    return "?";
}

const char* endpoint_path(endpoint e) {
    switch (e) {
        case endpoint::chat: return "/chat/completions";
        case endpoint::completions: return "/completions";
        case endpoint::embeddings: return "/embeddings";
    }
    return "/";
}

std::optional<api_error> parse_request(endpoint ep, std::string_view body, request_info& info) {
    json j = json::parse(body.begin(), body.end(), nullptr, false);
    if (j.is_discarded())
        return invalid_request("The request body is not valid JSON.", "", "invalid_json");
    if (!j.is_object()) return invalid_request("The request body must be a JSON object.", "", "invalid_json");
    auto model = j.find("model");
    if (model == j.end()) return missing("model");
    if (!model->is_string()) return wrong_type("model", "a string", *model);
    info.model = model->get<std::string>();
    if (info.model.empty()) return invalid_request("'model' must not be empty.", "model", "invalid_value");

    if (ep == endpoint::chat) {
        if (auto e = check_messages(j)) return e;
    } else if (ep == endpoint::completions) {
        if (auto e = check_input(j, "prompt")) return e;
    } else {
        if (auto e = check_input(j, "input")) return e;
    }
    if (ep != endpoint::embeddings) {
        if (auto s = j.find("stream"); s != j.end() && !s->is_null()) {
            if (!s->is_boolean()) return wrong_type("stream", "a boolean", *s);
            info.stream = s->get<bool>();
        }
        if (auto so = j.find("stream_options"); so != j.end() && !so->is_null()) {
            if (!so->is_object()) return wrong_type("stream_options", "an object", *so);
            if (auto iu = so->find("include_usage"); iu != so->end() && !iu->is_null()) {
                if (!iu->is_boolean()) return wrong_type("stream_options.include_usage", "a boolean", *iu);
                info.include_usage = iu->get<bool>();
            }
        }
    }
    return std::nullopt;
}

std::optional<std::pair<size_t, size_t>> find_top_level_string(std::string_view s, std::string_view key) {
    auto span = find_top_level_value(s, key);
    if (!span || s[span->first] != '"') return std::nullopt;
    return span;
}

usage_counts extract_usage(std::string_view text) {
    usage_counts u;
    auto span = find_top_level_value(text, "usage");
    if (!span) return u;
    auto j = json::parse(text.begin() + span->first, text.begin() + span->second, nullptr, false);
    if (!j.is_object()) return u;
    if (auto p = j.find("prompt_tokens"); p != j.end() && p->is_number_integer()) u.prompt = p->get<long long>();
    if (auto c = j.find("completion_tokens"); c != j.end() && c->is_number_integer())
        u.completion = c->get<long long>();
    return u;
}

std::optional<std::pair<size_t, size_t>> find_top_level_value(std::string_view s, std::string_view key) {
    constexpr auto npos = std::string_view::npos;
    std::optional<std::pair<size_t, size_t>> found;
    size_t i = skip_ws(s, 0);
    if (i >= s.size() || s[i] != '{') return std::nullopt;
    i = skip_ws(s, i + 1);
    if (i < s.size() && s[i] == '}') return std::nullopt;
    while (i < s.size()) {
        if (s[i] != '"') return std::nullopt;
        size_t kend = skip_string(s, i);
        if (kend == npos) return std::nullopt;
        bool match = s.substr(i + 1, kend - i - 2) == key;
        i = skip_ws(s, kend);
        if (i >= s.size() || s[i] != ':') return std::nullopt;
        i = skip_ws(s, i + 1);
        size_t vend = skip_value(s, i);
        if (vend == npos) return std::nullopt;
        if (match) found = std::pair{i, vend};
        i = skip_ws(s, vend);
        if (i >= s.size()) return std::nullopt;
        if (s[i] == '}') return found;
        if (s[i] != ',') return std::nullopt;
        i = skip_ws(s, i + 1);
    }
    return std::nullopt;
}

std::string json_quote(std::string_view s) {
    return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string rewrite_model(std::string_view body, std::string_view model) {
    if (auto span = find_top_level_string(body, "model")) {
        std::string out;
        std::string q = json_quote(model);
        out.reserve(body.size() + q.size());
        out.append(body.substr(0, span->first)).append(q).append(body.substr(span->second));
        return out;
    }
    // Only reached for exotic spellings (an escaped key): fall back to a re-serialisation.
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(body.begin(), body.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::string(body);
    j["model"] = std::string(model);
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace swapgate::proxy
