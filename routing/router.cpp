#include "routing/router.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace swapgate::routing {
namespace {

using json = nlohmann::json;

// What a requested name resolved to, before residency and context are looked at.
struct target {
    bool found = false;
    std::vector<std::string> candidates;  // in preference order
    std::string rule;                     // for logs
    std::string token;                    // the header's rule=
    std::string tier;                     // the tier chosen from, if any
};

const config::model* model_by_name(const config::config& cfg, const std::string& name) {
    for (const auto& m : cfg.models)
        if (m.name == name) return &m;
    return nullptr;
}

// A tier or model name (as the loader stored them) -> its models.
void expand(const config::config& cfg, const std::string& name, target& t) {
    if (auto it = cfg.routing.tiers.find(name); it != cfg.routing.tiers.end()) {
        t.candidates = it->second;
        t.tier = name;
        t.rule += " -> tier " + name;
    } else if (model_by_name(cfg, name)) {
        t.candidates = {name};
        t.rule += " -> " + name;
    }
}

long long number_field(const json& body, const char* key) {
    auto it = body.find(key);
    return it != body.end() && it->is_number() ? it->get<long long>() : -1;
}

// The completion budget the request asks for before any model is chosen: its
// own field, else the task's default.
long long requested_max_tokens(const config::config& cfg, const std::string& task, const json& body) {
    for (const char* k : {"max_completion_tokens", "max_tokens"})
        if (long long v = number_field(body, k); v >= 0) return v;
    if (auto it = cfg.routing.task_defaults.find(task); it != cfg.routing.task_defaults.end())
        if (auto d = it->second.find("max_tokens"); d != it->second.end()) {
            json v = json::parse(d->second, nullptr, false);
            if (v.is_number()) return v.get<long long>();
        }
    return 0;
}

bool holds(const config::route_condition& c, const routing_inputs& in, const text_features& f, long long need) {
    using k = config::route_condition::kind;
    switch (c.what) {
        case k::task_type: return std::find(c.values.begin(), c.values.end(), in.task_type) != c.values.end();
        case k::script: return f.letter_total > 0 && f.share(c.values.at(0)) >= c.number;
        case k::complexity_at_least: return f.complexity >= c.number;
        case k::complexity_below: return f.complexity < c.number;
        case k::has_tools: return f.has_tools == c.flag;
        case k::has_images: return f.has_images == c.flag;
        case k::min_context: return static_cast<double>(need) >= c.number;
    }
    return false;
}

target resolve(const routing_inputs& in, const text_features& f) {
    const auto& cfg = *in.cfg;
    const auto& rs = cfg.routing;
    target t;
    const std::string& name = in.requested;
    for (const auto& m : cfg.models) {
        if (m.name == name) return {true, {m.name}, "name", "name", ""};
        if (std::find(m.aliases.begin(), m.aliases.end(), name) != m.aliases.end())
            return {true, {m.name}, "alias " + name + " -> " + m.name, "alias", ""};
    }
    if (auto it = rs.tiers.find(name); it != rs.tiers.end()) return {true, it->second, "tier " + name, "tier", name};
    if (rs.auto_route.enabled && name == "auto") {
        t.found = true;
        long long need = f.prompt_tokens + requested_max_tokens(cfg, in.task_type, *in.body);
        for (const auto& rule : rs.auto_route.rules) {
            if (!std::all_of(rule.all.begin(), rule.all.end(), [&](const auto& c) { return holds(c, in, f, need); }))
                continue;
            target r{true, {}, "auto rule " + std::to_string(rule.number) + " (" + rule.label + ")",
                     "auto:" + std::to_string(rule.number) + ":" + rule.label, ""};
            if (rule.then.empty()) {
                r.candidates = rule.models;
                r.rule += " -> models declaring it";
            } else {
                expand(cfg, rule.then, r);
            }
            if (!r.candidates.empty()) return r;  // a target whose models are all off does not match
        }
        t.rule = "auto default";
        t.token = "auto:default";
        if (!rs.auto_route.fallback.empty()) expand(cfg, rs.auto_route.fallback, t);
        return t;
    }
    for (const auto& p : rs.patterns)
        if (glob_match(p.match, name)) {
            target r{true, {}, "pattern " + p.match, "pattern:" + p.match, ""};
            expand(cfg, p.target, r);
            return r;
        }
    return t;
}

// Header values stay printable ASCII without the separators of the format.
std::string header_safe(std::string_view s) {
    std::string out;
    for (char c : s) out += (c > 0x20 && c < 0x7F && c != ';' && c != ',' && c != '"') ? c : '_';
    return out;
}

struct evaluator {
    const routing_inputs& in;
    const json& body;
    const text_features& f;

    const config::model_routing& mr(const std::string& m) const {
        static const config::model_routing none;
        auto it = in.cfg->routing.models.find(m);
        return it == in.cfg->routing.models.end() ? none : it->second;
    }
    long long max_tokens(const std::string& m) const {
        long long v = std::max<long long>(0, std::max(number_field(body, "max_completion_tokens"), number_field(body, "max_tokens")));
        for (const auto& e : parameter_edits(*in.cfg, m, in.task_type, body))
            if (e.key == "max_tokens" || e.key == "max_completion_tokens") {
                json j = json::parse(e.value, nullptr, false);
                if (j.is_number()) v = j.get<long long>();
            }
        return v;
    }
    bool fits(const std::string& m) const {
        long long w = mr(m).context_window;
        return w == 0 || f.prompt_tokens + max_tokens(m) <= w;
    }
    bool capable(const std::string& m) const {
        const auto& r = mr(m);
        return !r.capabilities_declared || ((!f.has_tools || r.tools) && (!f.has_images || r.vision));
    }
    residency state(const std::string& m) const {
        return in.residency ? in.residency(m) : residency{true, true};
    }
};

}  // namespace

route_decision decide(const routing_inputs& in) {
    static const json empty = json::object();
    const json& body = in.body && in.body->is_object() ? *in.body : empty;
    routing_inputs inputs = in;
    inputs.body = &body;
    const auto& cfg = *in.cfg;
    route_decision d;
    d.features = extract_features(body, cfg.routing.auto_route.reasoning_cues);
    d.prompt_tokens = d.features.prompt_tokens;
    evaluator ev{inputs, body, d.features};

    target t = resolve(inputs, d.features);
    d.rule = t.rule;
    if (!t.found) {
        d.status = route_status::unknown_model;
        d.http_status = 404;
        d.error_code = "model_not_found";
        d.error_message = "The model '" + in.requested + "' does not exist or is not configured in swapgate";
        d.header = "rule=unknown";
        return d;
    }
    std::string pick;
    std::string chosen;
    if (t.candidates.size() == 1) {
        chosen = t.candidates[0];
    } else if (!t.candidates.empty()) {
        // Those that fit the context and have what the request needs; failing
        // that, those with the capabilities; failing that, all of them.
        std::vector<std::string> usable;
        for (const auto& c : t.candidates)
            if (ev.fits(c) && ev.capable(c)) usable.push_back(c);
        if (usable.empty())
            for (const auto& c : t.candidates)
                if (ev.capable(c)) usable.push_back(c);
        if (usable.empty()) usable = t.candidates;
        auto first = [&](auto pred) {
            auto it = std::find_if(usable.begin(), usable.end(), pred);
            return it == usable.end() ? std::string() : *it;
        };
        if (chosen = first([&](const std::string& m) { return ev.state(m).ready; }); !chosen.empty()) pick = "ready";
        else if (chosen = first([&](const std::string& m) { return ev.state(m).fits; }); !chosen.empty()) pick = "fits";
        else chosen = usable.front(), pick = "first";
        d.rule += pick == "ready" ? ": first ready" : pick == "fits" ? ": first that fits" : ": first listed";
    }
    if (chosen.empty()) {
        d.status = route_status::no_model;
        d.http_status = 503;
        d.error_code = "model_unavailable";
        d.error_message = "No model is available for '" + in.requested + "' (" + t.rule + ")";
        d.header = "rule=" + header_safe(t.token);
        return d;
    }

    // The chain: the choice, the rest of the candidates, then its fallback list.
    std::vector<std::string> full{chosen};
    auto add = [&](const std::string& m) {
        if (std::find(full.begin(), full.end(), m) == full.end()) full.push_back(m);
    };
    for (const auto& c : t.candidates) add(c);
    for (const auto& c : ev.mr(chosen).fallback) add(c);
    auto later_hops = [&](std::size_t from, auto fits) {
        std::vector<std::string> hops;
        for (std::size_t i = from; i < full.size(); ++i)
            if (ev.capable(full[i]) && fits(full[i])) hops.push_back(full[i]);
        return hops;
    };
    d.chain = {chosen};
    auto fitting = later_hops(1, [&](const std::string& m) { return ev.fits(m); });
    d.chain.insert(d.chain.end(), fitting.begin(), fitting.end());

    std::string overflow_token;
    if (!ev.fits(chosen)) {
        const auto& mr = ev.mr(chosen);
        d.overflowed = chosen;
        d.context_window = mr.context_window;
        d.max_tokens = ev.max_tokens(chosen);
        std::string why = "; overflow: " + chosen + " has a window of " + std::to_string(mr.context_window) + " < " +
                          std::to_string(d.prompt_tokens + d.max_tokens) + " tokens";
        if (mr.overflow == config::overflow_action::next && !fitting.empty()) {
            d.overflow = overflow_kind::moved;
            d.chain = fitting;
            d.rule += why + " -> " + fitting.front();
            overflow_token = "next:" + chosen;
        } else if (mr.overflow == config::overflow_action::trim) {
            int n = turns_to_trim(body, d.max_tokens, mr.context_window);
            if (n > 0) {
                d.overflow = overflow_kind::trim;
                d.trim_turns = n;
                d.rule += why + " -> trim " + std::to_string(n) + " oldest turns";
                overflow_token = "trim:" + std::to_string(n);
                json trimmed = body;
                trim_oldest_turns(trimmed, n);
                long long after = estimate_prompt_tokens(trimmed);
                d.chain = {chosen};
                for (const auto& m : later_hops(1, [&](const std::string& m) {
                         long long w = ev.mr(m).context_window;
                         return w == 0 || after + ev.max_tokens(m) <= w;
                     }))
                    d.chain.push_back(m);
            }
        }
        if (d.overflow == overflow_kind::none) {
            d.overflow = overflow_kind::reject;
            d.status = route_status::context_length_exceeded;
            d.http_status = 400;
            d.error_code = "context_length_exceeded";
            d.error_message = "This model's maximum context length is " + std::to_string(mr.context_window) +
                              " tokens. However, you requested about " + std::to_string(d.prompt_tokens + d.max_tokens) +
                              " tokens (" + std::to_string(d.prompt_tokens) + " in the messages, " +
                              std::to_string(d.max_tokens) + " in the completion; estimated). Please reduce the length "
                              "of the messages or completion.";
            d.rule += why + " -> reject (overflow: " + config::overflow_name(mr.overflow) + ")";
            overflow_token = "reject";
        }
    }
    if (d.status == route_status::ok) {
        d.edits = parameter_edits(cfg, d.chain.front(), in.task_type, body);
        d.max_tokens = ev.max_tokens(d.chain.front());
        if (d.overflow != overflow_kind::moved) d.context_window = ev.mr(d.chain.front()).context_window;
    } else {
        d.chain.clear();
    }
    d.header = "model=" + header_safe(d.status == route_status::ok ? d.chain.front() : chosen) +
               "; rule=" + header_safe(t.token);
    if (!t.tier.empty()) d.header += "; tier=" + header_safe(t.tier);
    if (!pick.empty()) d.header += "; pick=" + pick;
    if (!overflow_token.empty()) d.header += "; overflow=" + header_safe(overflow_token);
    return d;
}

}  // namespace swapgate::routing
