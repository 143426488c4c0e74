#include "proxy/json_body.hpp"

#include "proxy/json_scan.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstring>

namespace swapgate::proxy {
namespace {

using json = nlohmann::json;
using json_scan::kind;
using json_scan::value;

api_error wrong_type(const std::string& param, const char* expected, const value& got) {
    return invalid_request("Invalid type for '" + param + "': expected " + expected + ", but got " +
                               json_scan::kind_name(got.type()) + ".",
                           param, "invalid_type");
}

api_error missing(const std::string& param) {
    return invalid_request("Missing required parameter: '" + param + "'.", param, "missing_required_parameter");
}

std::optional<api_error> check_messages(const value& body) {
    auto msgs = body.member("messages");
    if (!msgs) return missing("messages");
    if (msgs->type() != kind::array) return wrong_type("messages", "an array", *msgs);
    auto cur = msgs->elements();
    size_t i = 0;
    for (auto m = cur.next(); m; m = cur.next(), ++i) {
        std::string p = "messages[" + std::to_string(i) + "]";
        if (m->type() != kind::object) return wrong_type(p, "an object", *m);
        auto role = m->member("role");
        if (!role) return missing(p + ".role");
        if (role->type() != kind::string) return wrong_type(p + ".role", "a string", *role);
        auto content = m->member("content");
        if (content && content->type() != kind::string && content->type() != kind::array &&
            content->type() != kind::null)
            return wrong_type(p + ".content", "a string or an array of content parts", *content);
    }
    if (i == 0) return invalid_request("'messages' must contain at least one message.", "messages", "empty_array");
    return std::nullopt;
}

std::optional<api_error> check_input(const value& body, const char* field) {
    auto v = body.member(field);
    if (!v) return missing(field);
    if (v->type() == kind::string) return std::nullopt;
    if (v->type() != kind::array) return wrong_type(field, "a string or an array", *v);
    auto cur = v->elements();
    size_t i = 0;
    for (auto e = cur.next(); e; e = cur.next(), ++i) {
        bool ok = e->type() == kind::string || e->is_integer();
        if (e->type() == kind::array) {
            ok = true;
            auto inner = e->elements();
            for (auto t = inner.next(); t; t = inner.next()) ok = ok && t->is_integer();
        }
        if (!ok) return wrong_type(std::string(field) + "[" + std::to_string(i) + "]", "a string or token integers", *e);
    }
    if (i == 0)
        return invalid_request(std::string("'") + field + "' must not be an empty array.", field, "empty_array");
    return std::nullopt;
}

size_t skip_ws(std::string_view s, size_t i) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    return i;
}

// i at an opening quote; returns the index after the closing quote, or npos.
size_t skip_string(std::string_view s, size_t i) {
    const size_t content = i + 1;
    for (size_t from = content; from < s.size();) {
        const void* q = std::memchr(s.data() + from, '"', s.size() - from);
        if (!q) break;
        size_t at = static_cast<size_t>(static_cast<const char*>(q) - s.data());
        size_t bs = 0;  // a quote after an odd run of backslashes is escaped
        while (at - bs > content && s[at - bs - 1] == '\\') ++bs;
        if (bs % 2 == 0) return at + 1;
        from = at + 1;
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
    std::string why;
    if (!json_scan::validate(body, why))
        return invalid_request("The request body is not valid JSON: " + why + ".", "", "invalid_json");
    value root = json_scan::root(body);
    if (root.type() != kind::object) return invalid_request("The request body must be a JSON object.", "", "invalid_json");
    // A second "model" key (or one spelt with escapes) would let the backend see a
    // different model than the one routed and rewritten here: refuse it.
    size_t model_keys = root.count_members("model");
    if (model_keys > 1)
        return invalid_request("'model' appears more than once in the request body.", "model", "invalid_value");
    auto model = root.member("model");
    if (!model && model_keys == 1)
        return invalid_request("The key 'model' must be written without escape sequences.", "model", "invalid_value");
    if (!model) return missing("model");
    if (model->type() != kind::string) return wrong_type("model", "a string", *model);
    info.model = model->as_string();
    if (info.model.empty()) return invalid_request("'model' must not be empty.", "model", "invalid_value");

    if (ep == endpoint::chat) {
        if (auto e = check_messages(root)) return e;
    } else if (ep == endpoint::completions) {
        if (auto e = check_input(root, "prompt")) return e;
    } else {
        if (auto e = check_input(root, "input")) return e;
    }
    if (ep != endpoint::embeddings) {
        if (auto st = root.member("stream"); st && st->type() != kind::null) {
            if (st->type() != kind::boolean) return wrong_type("stream", "a boolean", *st);
            info.stream = st->as_bool();
        }
        if (auto so = root.member("stream_options"); so && so->type() != kind::null) {
            if (so->type() != kind::object) return wrong_type("stream_options", "an object", *so);
            if (auto iu = so->member("include_usage"); iu && iu->type() != kind::null) {
                if (iu->type() != kind::boolean) return wrong_type("stream_options.include_usage", "a boolean", *iu);
                info.include_usage = iu->as_bool();
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
    std::string_view obj = text.substr(span->first, span->second - span->first);
    std::string ignored;
    if (!json_scan::validate(obj, ignored)) return u;
    auto usage = json_scan::root(obj);
    auto number = [&](const char* key) -> long long {
        auto v = usage.member(key);
        if (!v || !v->is_integer()) return -1;
        long long n = -1;
        std::from_chars(v->text.data(), v->text.data() + v->text.size(), n);
        return n;
    };
    u.prompt = number("prompt_tokens");
    u.completion = number("completion_tokens");
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
    // parse_request guarantees exactly one plainly spelt top-level "model" string.
    auto span = find_top_level_string(body, "model");
    if (!span) return std::string(body);
    std::string out;
    std::string q = json_quote(model);
    out.reserve(body.size() + q.size());
    out.append(body.substr(0, span->first)).append(q).append(body.substr(span->second));
    return out;
}

}  // namespace swapgate::proxy
