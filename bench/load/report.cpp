#include "bench/load/report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <set>

namespace swapgate::bench {
namespace {

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string opt(const std::optional<double>& v, int decimals = 2) { return v ? fixed(*v, decimals) : "-"; }

nlohmann::json summary_json(const summary& s) {
    auto v = [](const std::optional<double>& x) { return x ? nlohmann::json(*x) : nlohmann::json(nullptr); };
    return {{"count", s.count}, {"p50", v(s.p50)},   {"p90", v(s.p90)}, {"p99", v(s.p99)},
            {"p999", v(s.p999)}, {"max", v(s.max)}, {"mean", v(s.mean)}};
}

std::optional<double> ratio(std::optional<double> a, std::optional<double> b) {
    if (!a || !b || *a == 0) return std::nullopt;
    return *b / *a;
}

}  // namespace

std::vector<std::pair<std::string, std::optional<double>>> compare_ratios(const target_summary& a,
                                                                         const target_summary& b) {
    std::vector<std::pair<std::string, std::optional<double>>> r{
        {"throughput_rps", ratio(a.throughput_rps, b.throughput_rps)},
        {"output_tokens_per_s", ratio(a.output_tokens_per_s, b.output_tokens_per_s)},
    };
    struct part { const char* name; std::optional<double> summary::*p; };
    const part parts[] = {{"p50", &summary::p50}, {"p90", &summary::p90}, {"p99", &summary::p99},
                          {"p999", &summary::p999}, {"max", &summary::max}, {"mean", &summary::mean}};
    for (auto [name, field] : {std::pair{"latency", &target_summary::latency}, std::pair{"ttft", &target_summary::ttft},
                               std::pair{"itl", &target_summary::itl}})
        for (const auto& p : parts)
            r.emplace_back(std::string(name) + "_" + p.name, ratio((a.*field).*p.p, (b.*field).*p.p));
    return r;
}

std::string format_table(const std::vector<target_summary>& targets) {
    const bool compare = targets.size() == 2;
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> header{""};
    for (std::size_t i = 0; i < targets.size(); ++i)
        header.push_back(compare ? std::string(i == 0 ? "A " : "B ") + targets[i].url : targets[i].url);
    if (compare) header.push_back("B/A");
    rows.push_back(header);

    std::optional<std::vector<std::pair<std::string, std::optional<double>>>> ratios;
    if (compare) ratios = compare_ratios(targets[0], targets[1]);
    auto ratio_of = [&](const std::string& key) -> std::string {
        if (!ratios) return {};
        for (const auto& [k, v] : *ratios)
            if (k == key) return opt(v, 3);
        return "";
    };
    auto add = [&](const std::string& name, auto cell, const std::string& ratio_key = {}) {
        std::vector<std::string> row{name};
        for (const auto& t : targets) row.push_back(cell(t));
        if (compare) row.push_back(ratio_key.empty() ? "" : ratio_of(ratio_key));
        rows.push_back(std::move(row));
    };

    add("requests", [](const target_summary& t) { return std::to_string(t.requests); });
    add("ok", [](const target_summary& t) { return std::to_string(t.ok); });
    std::set<std::string> error_keys, cache_keys;
    for (const auto& t : targets) {
        for (const auto& [k, v] : t.errors) error_keys.insert(k);
        for (const auto& [k, v] : t.cache) cache_keys.insert(k);
    }
    for (const auto& k : error_keys)
        add("errors " + k, [&](const target_summary& t) {
            auto it = t.errors.find(k);
            return std::to_string(it == t.errors.end() ? 0 : it->second);
        });
    add("duration s", [](const target_summary& t) { return fixed(t.duration_s, 2); });
    add("throughput req/s", [](const target_summary& t) { return fixed(t.throughput_rps, 2); }, "throughput_rps");
    add("output tokens", [](const target_summary& t) { return std::to_string(t.output_tokens); });
    add("output tok/s", [](const target_summary& t) { return fixed(t.output_tokens_per_s, 1); }, "output_tokens_per_s");

    struct metric { const char* label; const char* key; summary target_summary::*field; };
    for (const metric& m : {metric{"latency ms", "latency", &target_summary::latency},
                            metric{"ttft ms", "ttft", &target_summary::ttft},
                            metric{"itl ms", "itl", &target_summary::itl}}) {
        const bool itl = std::string_view(m.key) == "itl";
        struct part { const char* name; std::optional<double> summary::*p; };
        std::vector<part> parts = itl ? std::vector<part>{{"p50", &summary::p50}, {"p99", &summary::p99}}
                                      : std::vector<part>{{"p50", &summary::p50}, {"p90", &summary::p90},
                                                          {"p99", &summary::p99}, {"p99.9", &summary::p999},
                                                          {"max", &summary::max}, {"mean", &summary::mean}};
        for (const auto& p : parts) {
            std::string key = std::string(m.key) + "_" + (std::string_view(p.name) == "p99.9" ? "p999" : p.name);
            add(std::string(m.label) + " " + p.name,
                [&](const target_summary& t) { return opt((t.*m.field).*p.p); }, key);
        }
    }
    for (const auto& k : cache_keys)
        add("cache " + k, [&](const target_summary& t) {
            auto it = t.cache.find(k);
            return std::to_string(it == t.cache.end() ? 0 : it->second);
        });

    std::vector<std::size_t> width(rows[0].size(), 0);
    for (const auto& row : rows)
        for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    std::string out;
    for (const auto& row : rows) {
        for (std::size_t i = 0; i < row.size(); ++i) {
            const std::size_t pad = width[i] - row[i].size();
            if (i == 0) out += row[i] + std::string(pad, ' ');
            else out += "  " + std::string(pad, ' ') + row[i];
        }
        while (!out.empty() && out.back() == ' ') out.pop_back();
        out += '\n';
    }
    return out;
}

void report_json(const options& o, const std::vector<target_summary>& targets, nlohmann::json& out) {
    out = nlohmann::json::object();
    out["tool"] = "swapgate-bench";
    out["version"] = 1;
    options_to_json(o, out["args"]);
    auto& arr = out["targets"] = nlohmann::json::array();
    for (const auto& t : targets) {
        nlohmann::json j;
        j["url"] = t.url;
        j["requests"] = t.requests;
        j["ok"] = t.ok;
        j["errors"] = t.errors;
        j["duration_s"] = t.duration_s;
        j["throughput_rps"] = t.throughput_rps;
        j["output_tokens"] = t.output_tokens;
        j["output_tokens_per_s"] = t.output_tokens_per_s;
        j["latency_ms"] = summary_json(t.latency);
        j["ttft_ms"] = summary_json(t.ttft);
        j["itl_ms"] = summary_json(t.itl);
        j["cache"] = t.cache;
        arr.push_back(std::move(j));
    }
    if (targets.size() == 2) {
        auto& r = out["ratios"] = nlohmann::json::object();
        for (const auto& [k, v] : compare_ratios(targets[0], targets[1])) r[k] = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
    }
}

std::string format_progress(double elapsed_s, std::uint64_t done, double rps, std::uint64_t errors) {
    return "elapsed " + fixed(elapsed_s, 0) + "s  done " + std::to_string(done) + "  rps " + fixed(rps, 1) +
           "  errors " + std::to_string(errors);
}

}  // namespace swapgate::bench
