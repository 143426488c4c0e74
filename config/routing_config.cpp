#include "config/routing_config.hpp"

#include "config/yaml_reader.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <set>

namespace swapgate::config {

const std::initializer_list<const char*> routing_model_keys = {
    "context_window", "capabilities", "languages", "scripts", "defaults", "caps", "overflow", "fallback",
    "max_local_wait", "batch"};

const char* overflow_name(overflow_action a) {
    switch (a) {
        case overflow_action::trim: return "trim";
        case overflow_action::reject: return "reject";
        default: return "next";
    }
}

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& ch : out)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    return out;
}

}  // namespace

std::optional<std::string> canonical_script(std::string_view name) {
    std::string l = lower(name);
    if (l == "hiragana" || l == "katakana" || l == "japanese") return std::string("Kana");
    for (const char* s : script_names)
        if (lower(s) == l) return std::string(s);
    return std::nullopt;
}

std::optional<std::string> script_of_language(std::string_view code) {
    static constexpr std::pair<const char*, const char*> table[] = {
        {"Latin", " en fr de es it pt nl sv da no nb nn fi is pl cs sk hu ro tr vi id ms hr sl bs et lv lt ca eu gl ga "
                  "cy sq sw tl af az uz mt eo la "},
        {"Cyrillic", " ru uk be bg sr mk kk ky mn tg "}, {"Arabic", " ar fa ur ps "}, {"Devanagari", " hi mr ne sa "},
        {"Hebrew", " he yi "}, {"Greek", " el "}, {"Armenian", " hy "}, {"Thai", " th "}, {"Hangul", " ko "},
        {"Kana", " ja "}, {"Han", " zh "}};
    std::string key = " " + lower(code) + " ";
    if (code.size() < 2 || code.find(' ') != std::string_view::npos) return std::nullopt;
    for (const auto& [script, codes] : table)
        if (std::string_view(codes).find(key) != std::string_view::npos) return std::string(script);
    return std::nullopt;
}

namespace {

// 0.6 -> "0.6", 2 -> "2" (not "2.0"), for messages and rule labels.
std::string number_text(double v) {
    if (v == static_cast<double>(static_cast<long long>(v))) return std::to_string(static_cast<long long>(v));
    return nlohmann::json(v).dump();
}

bool read_number(yaml_reader& r, const YAML::Node& n, const std::string& path, double lo, double hi, double& out) {
    if (!n) return true;
    std::string s;
    if (!r.read_string(n, path, s)) return false;
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || errno != 0) {
        r.error(path, "expected a number, got '" + s + "'");
        return false;
    }
    if (v < lo || v > hi) {
        r.error(path, "must be between " + number_text(lo) + " and " + number_text(hi) + ", got " + s);
        return false;
    }
    out = v;
    return true;
}

// A YAML value as the JSON a client would have sent: plain scalars become
// booleans, null or numbers when they read as such, quoted ones stay strings.
bool to_json(yaml_reader& r, const YAML::Node& n, const std::string& path, nlohmann::json& out) {
    if (n.IsNull()) {
        out = nullptr;
        return true;
    }
    if (n.IsSequence()) {
        out = nlohmann::json::array();
        for (size_t i = 0; i < n.size(); ++i) {
            nlohmann::json v;
            if (!to_json(r, n[i], index_path(path, i), v)) return false;
            out.push_back(std::move(v));
        }
        return true;
    }
    if (n.IsMap()) {
        out = nlohmann::json::object();
        for (const auto& kv : n)
            if (!to_json(r, kv.second, child_path(path, kv.first.Scalar()), out[kv.first.Scalar()])) return false;
        return true;
    }
    std::string s;
    if (!r.interpolate(n.Scalar(), path, s)) return false;
    if (n.Tag() == "!") out = s;
    else if (s == "true" || s == "false") out = s == "true";
    else {
        char* end = nullptr;
        long long i = std::strtoll(s.c_str(), &end, 10);
        if (!s.empty() && *end == '\0') out = i;
        else if (double d = std::strtod(s.c_str(), &end); !s.empty() && *end == '\0') out = d;
        else out = s;
    }
    return true;
}

void read_defaults(yaml_reader& r, const YAML::Node& n, const std::string& path, param_defaults& out) {
    if (!n) return;
    if (!n.IsMap()) return r.error(path, "expected a map of request parameter to value, e.g. {temperature: 0.7}");
    for (const auto& kv : n) {
        std::string key = kv.first.Scalar(), kp = child_path(path, key);
        if (key == "model" || key == "messages" || key == "prompt" || key == "stream" || key == "input") {
            r.error(kp, "'" + key + "' cannot have a default");
            continue;
        }
        nlohmann::json v;
        if (to_json(r, kv.second, kp, v)) out[key] = v.dump();
    }
}

void read_caps(yaml_reader& r, const YAML::Node& n, const std::string& path, param_caps& out) {
    if (!n) return;
    if (!n.IsMap()) return r.error(path, "expected a map of numeric request parameter to ceiling, e.g. {max_tokens: 2048}");
    for (const auto& kv : n) {
        double v = 0;
        if (read_number(r, kv.second, child_path(path, kv.first.Scalar()), 0, 1e15, v)) out[kv.first.Scalar()] = v;
    }
}

// What a name in the routing section refers to.
struct namespace_view {
    std::map<std::string, std::string> model_of;  // name or alias of a model that is on -> its name
    std::set<std::string> off;                    // names and aliases of models that are off
    const std::map<std::string, std::vector<std::string>>* tiers = nullptr;

    std::string known() const {
        std::string s;
        for (const auto& [id, name] : model_of)
            if (id == name) s += (s.empty() ? "" : ", ") + id;
        if (tiers)
            for (const auto& [t, _] : *tiers) s += (s.empty() ? "tier " : ", tier ") + t;
        return s.empty() ? "none" : s;
    }
};

enum class ref_kind { model, tier, off, unknown };

ref_kind lookup(const namespace_view& ns, const std::string& id, std::string& canonical) {
    if (ns.tiers && ns.tiers->count(id)) return canonical = id, ref_kind::tier;
    if (auto it = ns.model_of.find(id); it != ns.model_of.end()) return canonical = it->second, ref_kind::model;
    return ns.off.count(id) ? ref_kind::off : ref_kind::unknown;
}

// Resolves a rule/pattern/default target (a tier or a model); false when it is unusable.
bool read_target(yaml_reader& r, const namespace_view& ns, const std::string& id, const std::string& path,
                 std::string& out, std::vector<std::string>& notes) {
    switch (lookup(ns, id, out)) {
        case ref_kind::model:
        case ref_kind::tier: return true;
        case ref_kind::off: notes.push_back(path + ": model '" + id + "' is off; left out"); return false;
        default: r.error(path, "unknown model or tier '" + id + "' (known: " + ns.known() + ")"); return false;
    }
}

void read_model_routing(yaml_reader& r, const namespace_view& ns, const YAML::Node& n, const std::string& path,
                        const model& m, model_routing& mr, std::vector<std::string>& notes) {
    if (n["context"] && m.managed()) mr.context_window = m.serving.context;
    r.read_int(n["context_window"], child_path(path, "context_window"), 1, 1ll << 30, mr.context_window);
    std::vector<std::string> list;
    std::string lp = child_path(path, "capabilities");
    if (n["capabilities"] && r.read_string_list(n["capabilities"], lp, list)) {
        mr.capabilities_declared = true;
        for (size_t i = 0; i < list.size(); ++i) {
            if (list[i] == "tools") mr.tools = true;
            else if (list[i] == "vision") mr.vision = true;
            else r.error(index_path(lp, i), "unknown capability '" + list[i] + "' (tools, vision)");
        }
    }
    // `languages: [el]` and `scripts: [Greek]` both end up as script names.
    for (const char* key : {"languages", "scripts"}) {
        list.clear();
        lp = child_path(path, key);
        if (!r.read_string_list(n[key], lp, list)) continue;
        for (size_t i = 0; i < list.size(); ++i) {
            auto s = key[0] == 'l' ? script_of_language(list[i]) : canonical_script(list[i]);
            if (!s && key[0] == 'l')
                r.error(index_path(lp, i), "unknown language '" + list[i] + "' (ISO 639-1 like el, ru, zh; or use scripts)");
            else if (!s)
                r.error(index_path(lp, i), "unknown script '" + list[i] + "' (Latin, Greek, Cyrillic, Armenian, Hebrew, "
                                           "Arabic, Devanagari, Thai, Hangul, Kana, Han)");
            else if (std::find(mr.scripts.begin(), mr.scripts.end(), *s) == mr.scripts.end()) mr.scripts.push_back(*s);
        }
    }
    read_defaults(r, n["defaults"], child_path(path, "defaults"), mr.defaults);
    read_caps(r, n["caps"], child_path(path, "caps"), mr.caps);
    std::string ov;
    if (n["overflow"] && r.read_string(n["overflow"], child_path(path, "overflow"), ov)) {
        if (ov == "next") mr.overflow = overflow_action::next;
        else if (ov == "trim") mr.overflow = overflow_action::trim;
        else if (ov == "reject") mr.overflow = overflow_action::reject;
        else r.error(child_path(path, "overflow"), "unknown overflow action '" + ov + "' (next, trim, reject)");
    }
    if (auto b = n["batch"]) {
        std::string bp = child_path(path, "batch");
        model_routing::batch_t bs;
        if (!b.IsMap() && !b.IsNull()) {
            r.error(bp, "expected a map (max_inputs, max_tokens, window, slots) or {}");
        } else {
            if (b.IsMap()) {
                r.check_keys(b, bp, {"max_inputs", "max_tokens", "window", "slots"});
                r.read_int(b["max_inputs"], child_path(bp, "max_inputs"), 1, 100000, bs.max_inputs);
                r.read_int(b["max_tokens"], child_path(bp, "max_tokens"), 1, 100000000, bs.max_tokens);
                r.read_duration(b["window"], child_path(bp, "window"), bs.window);
                r.read_int(b["slots"], child_path(bp, "slots"), 1, 1024, bs.slots);
            }
            mr.batch = bs;
        }
    }
    if (n["max_local_wait"]) {
        duration d{0};
        if (r.read_duration(n["max_local_wait"], child_path(path, "max_local_wait"), d)) mr.max_local_wait = d;
    }
    list.clear();
    lp = child_path(path, "fallback");
    if (!r.read_string_list(n["fallback"], lp, list)) return;
    for (size_t i = 0; i < list.size(); ++i) {
        std::string name, ip = index_path(lp, i);
        auto kind = lookup(ns, list[i], name);
        std::vector<std::string> hops;
        if (kind == ref_kind::tier) hops = ns.tiers->at(name);  // a tier stands for its models, in order
        else if (kind == ref_kind::model) hops = {name};
        else if (kind == ref_kind::off) notes.push_back(ip + ": model '" + list[i] + "' is off; left out of the chain");
        else r.error(ip, "unknown model or tier '" + list[i] + "' (known: " + ns.known() + ")");
        for (const auto& h : hops) {
            if (h == m.name && kind == ref_kind::model) r.error(ip, "a model cannot fall back to itself");
            else if (h != m.name && std::find(mr.fallback.begin(), mr.fallback.end(), h) == mr.fallback.end())
                mr.fallback.push_back(h);
        }
    }
}

void read_tiers(yaml_reader& r, namespace_view& ns, const YAML::Node& n, routing_settings& rs,
                std::vector<std::string>& notes) {
    if (!n) return;
    if (!n.IsMap()) return r.error("routing.tiers", "expected a map of tier name to a list of models, e.g. {fast: [small, tiny]}");
    for (const auto& kv : n) {
        std::string tier = kv.first.Scalar(), path = child_path("routing.tiers", tier);
        std::vector<std::string> list, members;
        if (ns.model_of.count(tier) || ns.off.count(tier)) {
            r.error(path, "'" + tier + "' is already a model name or alias");
            continue;
        }
        if (!r.read_string_list(kv.second, path, list)) continue;
        if (list.empty()) r.error(path, "a tier needs at least one model");
        for (size_t i = 0; i < list.size(); ++i) {
            std::string name, ip = index_path(path, i);
            auto kind = lookup(ns, list[i], name);
            if (kind == ref_kind::off) notes.push_back(ip + ": model '" + list[i] + "' is off; left out of the tier");
            else if (kind == ref_kind::unknown) r.error(ip, "unknown model '" + list[i] + "' (known: " + ns.known() + ")");
            else if (std::find(members.begin(), members.end(), name) != members.end())
                r.error(ip, "model '" + name + "' is already in this tier");
            else members.push_back(name);
        }
        rs.tiers[tier] = std::move(members);
    }
}

bool read_condition(yaml_reader& r, const std::string& key, const YAML::Node& v, const std::string& path,
                    route_condition& c, std::string& label) {
    using k = route_condition::kind;
    std::string s;
    if (key == "task_type") {
        c.what = k::task_type;
        if (!r.read_string_list(v, path, c.values) || c.values.empty()) return r.error(path, "expected a task name or a list"), false;
        for (const auto& t : c.values) s += (s.empty() ? "" : "|") + t;
    } else if (key == "script" || key == "language") {
        c.what = k::script;
        c.number = 0.5;
        if (!r.read_string(v, path, s)) return false;
        auto canon = key == "script" ? canonical_script(s) : script_of_language(s);
        if (!canon) return r.error(path, "unknown " + key + " '" + s + "'"), false;
        c.values = {*canon};
        s = *canon;
    } else if (key == "complexity_at_least" || key == "complexity_below") {
        c.what = key == "complexity_below" ? k::complexity_below : k::complexity_at_least;
        if (!v || !read_number(r, v, path, 0, 1, c.number)) return false;
        s = number_text(c.number);
    } else if (key == "has_tools" || key == "has_images") {
        c.what = key == "has_tools" ? k::has_tools : k::has_images;
        if (!r.read_bool(v, path, c.flag)) return false;
        s = c.flag ? "true" : "false";
    } else if (key == "min_context") {
        c.what = k::min_context;
        long long t = 0;
        if (!r.read_int(v, path, 1, 1ll << 30, t)) return false;
        c.number = static_cast<double>(t);
        s = std::to_string(t);
    } else {
        return false;
    }
    label += (label.empty() ? "" : "+") + key + "=" + s;
    return true;
}

// The models that satisfy what the conditions ask of a model, in config order.
std::vector<std::string> implied_models(const route_rule& rule, const config& c, bool& any) {
    using k = route_condition::kind;
    std::vector<std::string> out;
    any = false;
    for (const auto& cond : rule.all)
        any |= cond.what == k::script || cond.what == k::min_context || (cond.what == k::has_tools && cond.flag) ||
               (cond.what == k::has_images && cond.flag);
    for (const auto& m : c.models) {
        const auto& mr = c.routing.models.at(m.name);
        bool ok = any;
        for (const auto& cond : rule.all) {
            if (cond.what == k::script) ok &= std::count(mr.scripts.begin(), mr.scripts.end(), cond.values[0]) > 0;
            if (cond.what == k::min_context) ok &= mr.context_window >= static_cast<long long>(cond.number);
            if (cond.what == k::has_tools && cond.flag) ok &= mr.tools;
            if (cond.what == k::has_images && cond.flag) ok &= mr.vision;
        }
        if (ok) out.push_back(m.name);
    }
    return out;
}

void read_auto(yaml_reader& r, const namespace_view& ns, const YAML::Node& n, config& c) {
    auto& a = c.routing.auto_route;
    a.enabled = true;
    if (!n.IsMap()) return r.error("routing.auto", "expected a map with rules and default");
    r.check_keys(n, "routing.auto", {"rules", "default", "reasoning_cues"});
    std::string ignored;
    if (lookup(ns, "auto", ignored) != ref_kind::unknown) r.error("routing.auto", "'auto' is reserved but is a model, alias or tier");
    r.read_string_list(n["reasoning_cues"], "routing.auto.reasoning_cues", a.reasoning_cues);
    if (!n["default"]) r.error("routing.auto.default", "required: the tier or model when no rule matches");
    else {
        std::string d;
        if (r.read_string(n["default"], "routing.auto.default", d)) read_target(r, ns, d, "routing.auto.default", a.fallback, c.notes);
    }
    auto rules = n["rules"];
    if (!rules) return;
    if (!rules.IsSequence()) return r.error("routing.auto.rules", "expected a list of {if: {...}, then: tier-or-model}");
    for (size_t i = 0; i < rules.size(); ++i) {
        std::string path = index_path("routing.auto.rules", i), ip = child_path(path, "if");
        route_rule rule;
        rule.number = static_cast<int>(i) + 1;
        if (!rules[i].IsMap()) {
            r.error(path, "expected {if: {...}, then: tier-or-model}");
            continue;
        }
        r.check_keys(rules[i], path, {"if", "then"});
        auto cond = rules[i]["if"];
        if (!cond || !cond.IsMap() || cond.size() == 0) {
            r.error(ip, "required: a map of conditions (task_type, script, language, min_share, complexity_at_least, "
                        "complexity_below, has_tools, has_images, min_context)");
            continue;
        }
        r.check_keys(cond, ip, {"task_type", "script", "language", "min_share", "complexity_at_least", "complexity_below",
                                "has_tools", "has_images", "min_context"});
        bool ok = true;
        for (const auto& kv : cond) {
            std::string key = kv.first.Scalar();
            route_condition rc;
            if (key == "min_share") continue;
            if (read_condition(r, key, kv.second, child_path(ip, key), rc, rule.label)) rule.all.push_back(std::move(rc));
            else ok = false;
        }
        if (auto share = cond["min_share"]) {
            auto it = std::find_if(rule.all.begin(), rule.all.end(),
                                   [](const auto& x) { return x.what == route_condition::kind::script; });
            if (it == rule.all.end()) r.error(child_path(ip, "min_share"), "only with script or language");
            else ok &= read_number(r, share, child_path(ip, "min_share"), 0.01, 1, it->number);
        }
        if (!ok) continue;
        std::string then;
        if (rules[i]["then"]) {
            if (!r.read_string(rules[i]["then"], child_path(path, "then"), then)) continue;
            if (!read_target(r, ns, then, child_path(path, "then"), rule.then, c.notes)) continue;
        } else {
            bool any = false;
            rule.models = implied_models(rule, c, any);
            if (!any) r.error(child_path(path, "then"), "required: a tier or model for these conditions");
            else if (rule.models.empty())
                r.error(child_path(path, "then"), "no model declares what '" + rule.label +
                                                      "' needs (scripts/languages, capabilities or context_window)");
            if (rule.models.empty()) continue;
        }
        a.rules.push_back(std::move(rule));
    }
}

}  // namespace

void read_routing(yaml_reader& r, const env_lookup& env, const YAML::Node& section, const YAML::Node& models,
                  config& c) {
    auto& rs = c.routing;
    namespace_view ns;
    for (const auto& m : c.models) {
        ns.model_of[m.name] = m.name;
        for (const auto& a : m.aliases) ns.model_of.emplace(a, m.name);
        rs.models[m.name];
    }
    std::vector<std::string> scratch;  // names were checked when the models were read
    yaml_reader quiet(env, scratch);
    std::vector<std::pair<const model*, size_t>> model_nodes;
    if (models && models.IsSequence())
        for (size_t i = 0; i < models.size(); ++i) {
            if (!models[i].IsMap()) continue;
            std::string name;
            std::vector<std::string> aliases;
            quiet.read_string(models[i]["name"], "", name);
            auto it = std::find_if(c.models.begin(), c.models.end(), [&](const model& m) { return m.name == name; });
            if (it != c.models.end()) {
                model_nodes.emplace_back(&*it, i);
                continue;
            }
            ns.off.insert(name);
            quiet.read_string_list(models[i]["aliases"], "", aliases);
            ns.off.insert(aliases.begin(), aliases.end());
        }

    ns.tiers = &rs.tiers;
    if (section && !section.IsMap()) r.error("routing", "expected a map (tiers, patterns, auto, task_defaults, task_caps)");
    bool has_section = section && section.IsMap();
    if (has_section) {
        r.check_keys(section, "routing", {"tiers", "patterns", "auto", "task_defaults", "task_caps", "fallback", "coalesce"});
        r.read_bool(section["coalesce"], "routing.coalesce", rs.coalesce);
        read_tiers(r, ns, section["tiers"], rs, c.notes);
        if (auto f = section["fallback"]) {
            auto& fs = rs.fallback;
            r.check_keys(f, "routing.fallback", {"retries", "retry_backoff", "retry_backoff_max", "deadline",
                                                 "breaker_failures", "breaker_cooldown", "max_local_wait"});
            long long v = fs.retries;
            if (r.read_int(f["retries"], "routing.fallback.retries", 0, 10, v)) fs.retries = static_cast<int>(v);
            r.read_duration(f["retry_backoff"], "routing.fallback.retry_backoff", fs.retry_backoff);
            r.read_duration(f["retry_backoff_max"], "routing.fallback.retry_backoff_max", fs.retry_backoff_max);
            r.read_duration(f["deadline"], "routing.fallback.deadline", fs.deadline);
            v = fs.breaker_failures;
            if (r.read_int(f["breaker_failures"], "routing.fallback.breaker_failures", 1, 1000, v))
                fs.breaker_failures = static_cast<int>(v);
            r.read_duration(f["breaker_cooldown"], "routing.fallback.breaker_cooldown", fs.breaker_cooldown);
            r.read_duration(f["max_local_wait"], "routing.fallback.max_local_wait", fs.default_max_local_wait);
        }
    }
    for (auto [m, i] : model_nodes)
        read_model_routing(r, ns, models[i], index_path("models", i), *m, rs.models[m->name], c.notes);
    if (!has_section) return;

    if (auto a = section["auto"]) read_auto(r, ns, a, c);
    if (auto p = section["patterns"]) {
        if (!p.IsSequence()) r.error("routing.patterns", "expected a list of {match: \"glob*\", model: tier-or-model}");
        else
            for (size_t i = 0; i < p.size(); ++i) {
                std::string path = index_path("routing.patterns", i), target;
                route_pattern rp;
                if (!p[i].IsMap()) {
                    r.error(path, "expected {match: \"glob*\", model: tier-or-model}");
                    continue;
                }
                r.check_keys(p[i], path, {"match", "model"});
                if (!p[i]["match"] || !p[i]["model"]) {
                    r.error(path, "needs both 'match' (a glob with * and ?) and 'model'");
                    continue;
                }
                if (r.read_string(p[i]["match"], child_path(path, "match"), rp.match) && rp.match.empty())
                    r.error(child_path(path, "match"), "cannot be empty");
                if (r.read_string(p[i]["model"], child_path(path, "model"), target) &&
                    read_target(r, ns, target, child_path(path, "model"), rp.target, c.notes) && !rp.match.empty())
                    rs.patterns.push_back(std::move(rp));
            }
    }
    for (const char* key : {"task_defaults", "task_caps"}) {
        auto t = section[key];
        std::string path = std::string("routing.") + key;
        if (!t) continue;
        if (!t.IsMap()) {
            r.error(path, "expected a map of task type (X-Task-Type) to a map of parameters");
            continue;
        }
        for (const auto& kv : t) {
            std::string task = kv.first.Scalar();
            if (std::string(key) == "task_defaults") read_defaults(r, kv.second, child_path(path, task), rs.task_defaults[task]);
            else read_caps(r, kv.second, child_path(path, task), rs.task_caps[task]);
        }
    }
}

}  // namespace swapgate::config
