// The parts of routing that read or change the request body: parameter
// defaults and caps, overflow trimming, and the glob matcher.
#include "routing/router.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace swapgate::routing {
namespace {

using json = nlohmann::json;

bool present(const json& body, const std::string& key) {
    auto it = body.find(key);
    return it != body.end() && !it->is_null();
}

bool is_system(const json& m) {
    auto r = m.is_object() ? m.find("role") : m.end();
    return m.is_object() && r != m.end() && r->is_string() && (*r == "system" || *r == "developer");
}

bool is_user(const json& m) {
    auto r = m.is_object() ? m.find("role") : m.end();
    return m.is_object() && r != m.end() && r->is_string() && *r == "user";
}

// Message indices per turn, oldest first, and how many leading turns may go.
std::vector<std::vector<std::size_t>> turns_of(const json& messages, std::size_t& droppable) {
    std::vector<std::vector<std::size_t>> turns;
    std::size_t last_user_turn = SIZE_MAX;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (is_system(messages[i])) continue;
        if (is_user(messages[i]) || turns.empty()) turns.emplace_back();
        turns.back().push_back(i);
        if (is_user(messages[i])) last_user_turn = turns.size() - 1;
    }
    droppable = last_user_turn == SIZE_MAX ? (turns.empty() ? 0 : turns.size() - 1) : last_user_turn;
    return turns;
}

}  // namespace

bool glob_match(std::string_view p, std::string_view t) {
    std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
    while (ti < t.size()) {
        if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) ++pi, ++ti;
        else if (pi < p.size() && p[pi] == '*') star = pi++, mark = ti;
        else if (star != std::string_view::npos) pi = star + 1, ti = ++mark;
        else return false;
    }
    while (pi < p.size() && p[pi] == '*') ++pi;
    return pi == p.size();
}

std::vector<param_edit> parameter_edits(const config::config& cfg, const std::string& model,
                                        std::string_view task_type, const json& body) {
    std::vector<param_edit> edits;
    if (!body.is_object()) return edits;
    const auto& rs = cfg.routing;
    const config::model_routing* mr = nullptr;
    if (auto it = rs.models.find(model); it != rs.models.end()) mr = &it->second;
    const config::param_defaults* td = nullptr;
    const config::param_caps* tc = nullptr;
    if (!task_type.empty()) {
        if (auto it = rs.task_defaults.find(std::string(task_type)); it != rs.task_defaults.end()) td = &it->second;
        if (auto it = rs.task_caps.find(std::string(task_type)); it != rs.task_caps.end()) tc = &it->second;
    }
    auto edited = [&](const std::string& key) {
        return std::any_of(edits.begin(), edits.end(), [&](const param_edit& e) { return e.key == key; });
    };
    auto add_defaults = [&](const config::param_defaults* d, const char* source) {
        if (!d) return;
        for (const auto& [key, value] : *d) {
            if (present(body, key) || edited(key)) continue;
            if (key == "max_tokens" && present(body, "max_completion_tokens")) continue;
            edits.push_back({key, value, source});
        }
    };
    add_defaults(td, "default:task");
    add_defaults(mr ? &mr->defaults : nullptr, "default:model");

    // The lower ceiling wins; remember whose it is for the log.
    std::map<std::string, std::pair<double, const char*>> caps;
    for (auto [c, source] : {std::pair{tc, "cap:task"}, {mr ? &mr->caps : nullptr, "cap:model"}}) {
        if (!c) continue;
        for (const auto& [key, v] : *c) {
            auto it = caps.find(key);
            if (it == caps.end() || v < it->second.first) caps[key] = {v, source};
        }
    }
    for (const auto& [key, cap] : caps) {
        std::vector<std::string> fields{key};
        if (key == "max_tokens") fields.push_back("max_completion_tokens");
        for (const auto& field : fields) {
            json current;
            for (const auto& e : edits)
                if (e.key == field) current = json::parse(e.value, nullptr, false);
            if (current.is_null() && present(body, field)) current = body[field];
            if (!current.is_number() || current.get<double>() <= cap.first) continue;
            bool whole = current.is_number_integer() && std::floor(cap.first) == cap.first;
            std::string v = whole ? json(static_cast<long long>(cap.first)).dump() : json(cap.first).dump();
            edits.push_back({field, v, cap.second});
        }
    }
    return edits;
}

void apply_edits(json& body, const std::vector<param_edit>& edits) {
    if (!body.is_object()) return;
    for (const auto& e : edits) {
        json v = json::parse(e.value, nullptr, false);
        if (!v.is_discarded()) body[e.key] = std::move(v);
    }
}

int trim_oldest_turns(json& body, int turns) {
    auto ms = body.is_object() ? body.find("messages") : body.end();
    if (turns <= 0 || !body.is_object() || ms == body.end() || !ms->is_array()) return 0;
    std::size_t droppable = 0;
    auto all = turns_of(*ms, droppable);
    std::vector<bool> drop(ms->size(), false);
    int dropped = 0;
    for (std::size_t t = 0; t < std::min<std::size_t>(droppable, static_cast<std::size_t>(turns)); ++t)
        for (auto i : all[t]) drop[i] = true, ++dropped;
    json kept = json::array();
    for (std::size_t i = 0; i < ms->size(); ++i)
        if (!drop[i]) kept.push_back(std::move((*ms)[i]));
    *ms = std::move(kept);
    return dropped;
}

int turns_to_trim(const json& body, long long max_tokens, long long window) {
    long long total = estimate_prompt_tokens(body);
    if (total + max_tokens <= window) return 0;
    auto ms = body.is_object() ? body.find("messages") : body.end();
    if (ms == body.end() || !ms->is_array()) return -1;
    std::size_t droppable = 0;
    auto all = turns_of(*ms, droppable);
    for (std::size_t t = 0; t < droppable; ++t) {
        for (auto i : all[t]) total -= estimate_message_tokens((*ms)[i]);
        if (total + max_tokens <= window) return static_cast<int>(t + 1);
    }
    return -1;
}

}  // namespace swapgate::routing
