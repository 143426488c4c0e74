#include "cache/eligibility.hpp"

#include "cache/request_key.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace swapgate::cache {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

struct cache_control_flags {
    bool no_store = false;
    bool no_cache = false;
};

// Cache-Control is a comma-separated directive list; names are case-insensitive and
// may carry "=value" (max-age=0, no-cache="field").
cache_control_flags parse_cache_control(std::string_view header) {
    cache_control_flags f;
    std::string text = lower(header);
    std::string_view rest = text;
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view item = trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        auto eq = item.find('=');
        std::string_view name = trim(item.substr(0, eq));
        std::string_view value = eq == std::string_view::npos ? std::string_view{} : trim(item.substr(eq + 1));
        if (name == "no-store") f.no_store = true;
        else if (name == "no-cache") f.no_cache = true;
        else if (name == "max-age" && (value == "0" || value == "\"0\"")) f.no_cache = true;
    }
    return f;
}

bool is_zero(const nlohmann::json& v) { return v.is_number() && v.get<double>() == 0.0; }

// Absent or null or one of the accepted values.
bool absent_or(const nlohmann::json& body, const char* name, auto accept) {
    auto it = body.find(name);
    return it == body.end() || it->is_null() || accept(*it);
}

}  // namespace

std::optional<cache_mode> parse_cache_mode(std::string_view text) {
    std::string t = lower(trim(text));
    if (t == "deterministic") return cache_mode::deterministic;
    if (t == "always") return cache_mode::always;
    if (t == "off") return cache_mode::off;
    return std::nullopt;
}

bool deterministic_request(const nlohmann::json& body, std::string* why_not) {
    auto fail = [&](const char* why) {
        if (why_not) *why_not = why;
        return false;
    };
    if (!body.is_object()) return fail("body is not an object");
    auto one = [](const nlohmann::json& v) { return v.is_number() && v.get<double>() == 1.0; };
    if (!absent_or(body, "n", one)) return fail("n != 1");
    if (!absent_or(body, "best_of", one)) return fail("best_of != 1");
    if (!absent_or(body, "logprobs", [](const nlohmann::json& v) { return v.is_boolean() && !v.get<bool>(); }))
        return fail("logprobs requested");
    if (!absent_or(body, "top_logprobs", is_zero)) return fail("top_logprobs requested");
    auto t = body.find("temperature");
    bool greedy = t != body.end() && is_zero(*t);
    auto s = body.find("seed");
    bool seeded = s != body.end() && s->is_number_integer();
    if (!greedy && !seeded) return fail("sampling is not deterministic (no temperature 0, no seed)");
    return true;
}

cache_decision decide(cache_mode mode, std::string_view endpoint, const nlohmann::json& body,
                      const cache_request_headers& headers) {
    cache_decision d;
    auto nothing = [&](cache_status status, std::string reason) {
        d.lookup = d.store = false;
        d.status = status;
        d.reason = std::move(reason);
        return d;
    };
    if (mode == cache_mode::off) return nothing(cache_status::off, "cache.mode is off");
    bool generative = endpoint == endpoint_chat || endpoint == endpoint_completions;
    if (!generative && endpoint != endpoint_embeddings) return nothing(cache_status::bypass, "endpoint is not cached");
    if (!body.is_object()) return nothing(cache_status::bypass, "body is not a JSON object");

    auto cc = parse_cache_control(headers.cache_control);
    std::string xs = lower(trim(headers.x_swapgate_cache));
    if (cc.no_store) return nothing(cache_status::bypass, "Cache-Control: no-store");
    if (xs == "bypass") return nothing(cache_status::bypass, "X-Swapgate-Cache: bypass");

    std::string why;
    if (mode == cache_mode::deterministic && generative && !deterministic_request(body, &why))
        return nothing(cache_status::bypass, why);

    d.status = cache_status::miss;
    d.store = true;
    d.lookup = true;
    if (cc.no_cache) {
        d.lookup = false;
        d.reason = "Cache-Control: no-cache";
    } else if (xs == "refresh") {
        d.lookup = false;
        d.reason = "X-Swapgate-Cache: refresh";
    }
    return d;
}

}  // namespace swapgate::cache
