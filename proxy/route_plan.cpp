#include "proxy/route_plan.hpp"

#include "routing/router.hpp"

#include <nlohmann/json.hpp>

namespace swapgate::proxy {

namespace {

void add_fallbacks(const proxy_state& st, route_plan& plan) {
    const auto& rs = st.cfg->routing;
    auto it = rs.models.find(plan.chain.front()->name);
    if (it == rs.models.end()) return;
    for (const auto& name : it->second.fallback) {
        auto r = st.catalog.resolve(name);
        if (!r) continue;
        if (std::find(plan.chain.begin(), plan.chain.end(), r->model) == plan.chain.end()) plan.chain.push_back(r->model);
    }
}

std::string rule_kind(const std::string& header) {
    auto at = header.find("rule=");
    if (at == std::string::npos) return "other";
    std::string r = header.substr(at + 5, header.find(';', at) - at - 5);
    auto colon = r.find(':');
    if (colon != std::string::npos) r = r.substr(0, colon) == "auto" && r.find("default") != std::string::npos ? "auto_default" : r.substr(0, colon);
    return r;
}

}  // namespace

std::optional<api_error> plan_route(proxy_state& st, incoming_request& req, endpoint ep, const request_info& info,
                                    route_plan& plan) {
    const auto& rs = st.cfg->routing;
    auto direct = st.catalog.resolve(info.model);
    bool simple = direct.has_value() && req.x_task_type.empty();
    if (simple) {
        auto it = rs.models.find(direct->model->name);
        if (it != rs.models.end())
            simple = it->second.defaults.empty() && it->second.caps.empty() && it->second.context_window == 0;
    }
    if (simple || (direct && ep == endpoint::embeddings)) {
        plan.chain = {direct->model};
        plan.rule = info.model == direct->model->name ? "name" : "alias";
        plan.header = "model=" + direct->model->name + "; rule=" + plan.rule;
        add_fallbacks(st, plan);
        return std::nullopt;
    }
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    routing::routing_inputs in;
    in.cfg = st.cfg.get();
    in.requested = info.model;
    in.task_type = req.x_task_type;
    in.body = body.is_object() ? &body : nullptr;
    if (st.swap && st.swap->managed_count() > 0)
        in.residency = [&st](const std::string& name) {
            auto r = st.catalog.resolve(name);
            if (!r) return routing::residency{false, false};
            auto s = st.swap->residency(r->model);
            return routing::residency{s.ready, s.fits};
        };
    auto d = routing::decide(in);
    plan.header = d.header;
    if (d.status != routing::route_status::ok) {
        if (d.status == routing::route_status::unknown_model) return model_not_found(info.model);
        std::string type = d.http_status == 400 ? "invalid_request_error" : "server_error";
        return api_error{d.http_status, d.error_message, type, d.http_status == 400 ? "messages" : "model", d.error_code};
    }
    for (const auto& name : d.chain)
        if (auto r = st.catalog.resolve(name)) plan.chain.push_back(r->model);
    if (plan.chain.empty()) return model_not_found(info.model);
    plan.rule = rule_kind(d.header);
    plan.detail = d.rule;
    if (!body.is_object()) return std::nullopt;
    if (!d.edits.empty() || d.overflow == routing::overflow_kind::trim) {
        routing::apply_edits(body, d.edits);
        if (d.overflow == routing::overflow_kind::trim) routing::trim_oldest_turns(body, d.trim_turns);
        plan.original_body = std::move(req.body);
        req.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    plan.body = std::move(body);  // the cache need not parse req.body again
    return std::nullopt;
}

std::string body_for_hop(const proxy_state& st, const incoming_request& req, const route_plan& plan, size_t hop) {
    if (hop == 0) return req.body;
    const auto& m = *plan.chain[hop];
    auto it = st.cfg->routing.models.find(m.name);
    bool own = it != st.cfg->routing.models.end() && (!it->second.defaults.empty() || !it->second.caps.empty());
    bool task = !req.x_task_type.empty();
    if (!own && !task && plan.original_body.empty()) return req.body;
    const std::string& original = plan.original_body.empty() ? req.body : plan.original_body;
    auto body = nlohmann::json::parse(original, nullptr, false);
    if (!body.is_object()) return original;
    routing::apply_edits(body, routing::parameter_edits(*st.cfg, m.name, req.x_task_type, body));
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace swapgate::proxy
