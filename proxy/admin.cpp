// /admin/*: the residency admin API. Admin routes need an admin key
// (auth.admin_keys); when inbound auth is on but no admin key is configured
// they are refused, so a tenant's API key can never unload models.
#include "proxy/handler.hpp"

namespace swapgate::proxy {

namespace {

bool admin_allowed(const proxy_state& st, const incoming_request& req, api_error& why) {
    const auto& admin = st.cfg->auth.admin_keys;
    const auto& keys = st.cfg->auth.api_keys;
    if (admin.empty() && keys.empty()) return true;
    if (admin.empty()) {
        why = {403, "Admin routes are off: inbound auth is on and no auth.admin_keys are configured", "permission_error",
               "", "admin_disabled"};
        return false;
    }
    std::string_view a = req.authorization;
    constexpr std::string_view bearer = "Bearer ";
    bool ok = false;
    if (a.size() > bearer.size() && a.substr(0, bearer.size()) == bearer) {
        a.remove_prefix(bearer.size());
        for (const auto& k : admin) {
            unsigned char diff = a.size() == k.size() ? 0 : 1;
            for (size_t i = 0; i < k.size() && i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ k[i]);
            ok |= diff == 0;
        }
    }
    if (!ok) why = {401, "Admin routes need an admin key (Authorization: Bearer <one of auth.admin_keys>)",
                    "authentication_error", "", "invalid_admin_key"};
    return ok;
}

bool query_flag(const std::string& target, const std::string& name) {
    auto q = target.find('?');
    if (q == std::string::npos) return false;
    std::string query = "&" + target.substr(q + 1) + "&";
    return query.find("&" + name + "=true&") != std::string::npos || query.find("&" + name + "=1&") != std::string::npos ||
           query.find("&" + name + "&") != std::string::npos;
}

}  // namespace

net::awaitable<void> handle_admin(proxy_state& st, client_conn& conn, incoming_request& req, request_record& rec) {
    api_error e;
    if (!admin_allowed(st, req, e)) {
        rec.status = e.status;
        rec.error = e.code;
        co_await conn.send_error(e);
        co_return;
    }
    const std::string& p = req.path;
    if (p.rfind("/admin/cache/", 0) == 0) {
        co_await handle_cache_hooks(st, conn, req, rec);
        co_return;
    }
    const bool get = req.method == "GET" || req.method == "HEAD", post = req.method == "POST";
    swap_service::admin_answer a{0, ""};
    constexpr std::string_view prefix = "/admin/models/";
    if (p == "/admin/models") {
        if (get) a = co_await st.swap->models_status();
    } else if (p == "/admin/unload-idle") {
        if (post) a = co_await st.swap->unload_idle();
    } else if (p.rfind(prefix, 0) == 0) {
        std::string rest = p.substr(prefix.size());
        auto slash = rest.rfind('/');
        std::string name = slash == std::string::npos ? rest : rest.substr(0, slash);
        std::string verb = slash == std::string::npos ? "" : rest.substr(slash + 1);
        if (verb == "load" && post) a = co_await st.swap->load(name, query_flag(req.target, "force"));
        else if (verb == "unload" && post) a = co_await st.swap->unload(name);
        else if (verb == "can-load" && get) a = co_await st.swap->can_load(name);
        else if (verb == "load" || verb == "unload" || verb == "can-load") {
            e = method_not_allowed(req.method, req.path);
            rec.status = e.status;
            co_await conn.send_error(e);
            co_return;
        }
    }
    if (a.status == 0) {
        e = (p == "/admin/models" || p == "/admin/unload-idle") ? method_not_allowed(req.method, req.path)
                                                                : not_found(req.method, req.path);
        rec.status = e.status;
        rec.error = e.code;
        co_await conn.send_error(e);
        co_return;
    }
    rec.status = a.status;
    co_await conn.send(a.status, "application/json", a.body);
}

}  // namespace swapgate::proxy
