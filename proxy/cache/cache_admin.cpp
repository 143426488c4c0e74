// Test hooks of the cache, on only with `cache.test_hooks: true`:
//   POST /admin/cache/keys            {"request": {...chat body...}}
//        -> {"exact": hex, "partition": hex|null} for that request (as sent with this auth)
//   POST /admin/cache/semantic-inject {"request": {...}, "entry_key": hex}
//        -> puts a semantic index entry (this process only) for the request's
//           partition and embedded final message, pointing at entry_key. Lets a
//           test plant a bad candidate and see verification reject it.
#include "cache/request_key.hpp"
#include "cache/semantic.hpp"
#include "proxy/handler.hpp"

#include <nlohmann/json.hpp>

namespace swapgate::proxy {

using json = nlohmann::json;

namespace {

// Plain functions: GCC 12 cannot keep braced initialisers with string
// literals in a coroutine frame.
std::string keys_doc(const std::string& exact, const cache::semantic_plan_result& plan) {
    return json{{"exact", exact}, {"partition", plan.eligible ? json(plan.partition_key.hex()) : json(nullptr)}}.dump();
}

std::string injected_doc(bool ok) { return json{{"injected", ok}}.dump(); }

api_error bad_hook_request() {
    return invalid_request("expected {\"request\": {chat body with a known model}}", "request");
}

}  // namespace

net::awaitable<void> handle_cache_hooks(proxy_state& st, client_conn& conn, incoming_request& req, request_record& rec) {
    api_error e;
    if (!st.cfg->cache.test_hooks) {
        e = not_found(req.method, req.path);
    } else if (req.method != "POST") {
        e = method_not_allowed(req.method, req.path);
    } else {
        auto in = json::parse(req.body, nullptr, false);
        const json* body = in.is_object() && in.contains("request") && in["request"].is_object() ? &in["request"] : nullptr;
        std::optional<routing::route> route;
        if (body && body->contains("model") && (*body)["model"].is_string())
            route = st.catalog.resolve((*body)["model"].get<std::string>());
        if (!route) {
            e = bad_hook_request();
        } else {
            const auto& model = *route->model;
            auto ns = st.cache->namespace_for(req.authorization);
            auto id = st.cache->model_identity(&model);
            auto plan = cache::semantic_plan(cache::endpoint_chat, id, ns, *body, st.cache->settings(&model).semantic);
            if (req.path == "/admin/cache/keys") {
                std::string out = keys_doc(cache::request_key(cache::endpoint_chat, id, ns, *body).hex(), plan);
                rec.status = 200;
                co_await conn.send(200, "application/json", out);
                co_return;
            }
            if (req.path == "/admin/cache/semantic-inject" && st.semantic && plan.eligible &&
                in.contains("entry_key") && in["entry_key"].is_string()) {
                auto v = co_await st.semantic->embed(model, plan.text_to_embed);
                bool ok = v && st.semantic->inject(plan.partition_key.hex(), in["entry_key"].get<std::string>(), *v);
                rec.status = ok ? 200 : 500;
                std::string out = injected_doc(ok);
                co_await conn.send(rec.status, "application/json", out);
                co_return;
            }
            e = not_found(req.method, req.path);
        }
    }
    rec.status = e.status;
    rec.error = e.code;
    co_await conn.send_error(e);
}

}  // namespace swapgate::proxy
