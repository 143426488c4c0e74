#include "bench/load/trace.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace swapgate::bench {
namespace {

std::string line_error(std::size_t line, std::string_view what) {
    return "trace line " + std::to_string(line) + ": " + std::string(what);
}

std::string field_error(std::size_t line, std::string_view field, std::string_view expected) {
    return line_error(line, "field \"" + std::string(field) + "\" must be " + std::string(expected));
}

// Parses one non-blank line; returns an error message or fills `out`.
std::string parse_line(std::string_view text, std::size_t line, const trace_defaults& d,
                       const nlohmann::json* global_extra, trace_entry& out) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) return line_error(line, "invalid JSON");
    if (!j.is_object()) return line_error(line, "expected a JSON object");

    auto t = j.find("t");
    if (t == j.end()) return line_error(line, "missing field \"t\"");
    if (!t->is_number() || !std::isfinite(t->get<double>()) || t->get<double>() < 0)
        return field_error(line, "t", "a number >= 0 (seconds)");

    auto model = j.find("model");
    if (model == j.end()) return line_error(line, "missing field \"model\"");
    if (!model->is_string()) return field_error(line, "model", "a string");

    endpoint ep = d.ep;
    if (auto e = j.find("endpoint"); e != j.end()) {
        auto parsed = e->is_string() ? parse_endpoint(e->get_ref<const std::string&>()) : std::nullopt;
        if (!parsed) return field_error(line, "endpoint", "\"chat\", \"completions\" or \"embeddings\"");
        ep = *parsed;
    }

    const char* input_field = ep == endpoint::chat ? "messages" : ep == endpoint::completions ? "prompt" : "input";
    auto input = j.find(input_field);
    if (input == j.end()) return line_error(line, "missing field \"" + std::string(input_field) + "\"");
    if (ep == endpoint::chat && !input->is_array()) return field_error(line, input_field, "an array");
    if (ep != endpoint::chat && !input->is_string() && !input->is_array())
        return field_error(line, input_field, "a string or an array");

    bool stream = false;
    if (auto s = j.find("stream"); s != j.end()) {
        if (!s->is_boolean()) return field_error(line, "stream", "a boolean");
        stream = s->get<bool>();
    }
    std::optional<std::int64_t> max_tokens;
    if (auto m = j.find("max_tokens"); m != j.end()) {
        if (!m->is_number_integer() || m->get<std::int64_t>() < 0) return field_error(line, "max_tokens", "an integer >= 0");
        max_tokens = m->get<std::int64_t>();
    }
    const nlohmann::json* line_extra = nullptr;
    if (auto x = j.find("extra"); x != j.end()) {
        if (!x->is_object()) return field_error(line, "extra", "an object");
        line_extra = &*x;
    }

    out.t_s = t->get<double>();
    out.line = line;
    out.spec.ep = ep;
    out.spec.stream = stream && ep != endpoint::embeddings;
    out.spec.body = build_body(ep, model->get_ref<const std::string&>(), *input, out.spec.stream, d.include_usage,
                               max_tokens, global_extra, line_extra);
    return {};
}

}  // namespace

trace_result parse_trace(std::string_view text, const trace_defaults& d) {
    trace_result r;
    nlohmann::json global_extra;
    if (!d.extra.empty()) global_extra = nlohmann::json::parse(d.extra, nullptr, false);
    const nlohmann::json* extra = global_extra.is_object() ? &global_extra : nullptr;

    std::size_t line = 0;
    while (!text.empty()) {
        ++line;
        auto nl = text.find('\n');
        std::string_view l = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        if (l.find_first_not_of(" \t") == std::string_view::npos) continue;
        trace_entry e;
        if (auto err = parse_line(l, line, d, extra, e); !err.empty()) {
            r.error = std::move(err);
            r.entries.clear();
            return r;
        }
        r.entries.push_back(std::move(e));
    }
    if (r.entries.empty()) {
        r.error = "trace has no requests";
        return r;
    }
    std::stable_sort(r.entries.begin(), r.entries.end(),
                     [](const trace_entry& a, const trace_entry& b) { return a.t_s < b.t_s; });
    return r;
}

trace_result load_trace(const std::string& path, const trace_defaults& d) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        trace_result r;
        r.error = "cannot read trace file " + path;
        return r;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_trace(ss.str(), d);
}

}  // namespace swapgate::bench
