#include "proxy/handler.hpp"

#include <nlohmann/json.hpp>

#include <random>

namespace swapgate::proxy {

namespace asio = net::asio;
using clock = std::chrono::steady_clock;

namespace {

bool key_matches(std::string_view given, const std::string& key) {
    // Length-independent comparison time for equal-length keys.
    if (given.size() != key.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < key.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i]);
    return diff == 0;
}

bool authorized(const proxy_state& st, const incoming_request& req) {
    const auto& keys = st.cfg->auth.api_keys;
    if (keys.empty()) return true;
    std::string_view a = req.authorization;
    constexpr std::string_view bearer = "Bearer ";
    if (a.size() <= bearer.size() || a.substr(0, bearer.size()) != bearer) return false;
    a.remove_prefix(bearer.size());
    bool ok = false;
    for (const auto& k : keys) ok |= key_matches(a, k);
    return ok;
}

nlohmann::json model_object(const proxy_state& st, const routing::listing_entry& e) {
    nlohmann::json m{{"id", e.id}, {"object", "model"}, {"created", st.started_at}, {"owned_by", e.owned_by}};
    if (!e.alias_of.empty()) m["alias_of"] = e.alias_of;
    if (!e.tier.empty()) m["tier"] = e.tier;
    return m;
}

std::string models_list(const proxy_state& st) {
    nlohmann::json data = nlohmann::json::array();
    for (const auto& e : st.catalog.listing()) data.push_back(model_object(st, e));
    return nlohmann::json{{"object", "list"}, {"data", data}}.dump(-1, ' ', false,
                                                                   nlohmann::json::error_handler_t::replace);
}

// "/v1/chat/completions" and "/chat/completions" are the same API path.
std::string_view api_path(std::string_view path) {
    if (path.substr(0, 4) == "/v1/") path.remove_prefix(3);
    return path;
}

}  // namespace

std::string accept_request_id(std::string_view from_client) {
    bool ok = !from_client.empty() && from_client.size() <= 128;
    for (char c : from_client)
        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':');
    if (ok) return std::string(from_client);
    thread_local std::mt19937_64 rng{std::random_device{}()};
    char buf[40];
    std::snprintf(buf, sizeof buf, "sg-%016llx", static_cast<unsigned long long>(rng()));
    return buf;
}

net::awaitable<void> handle_request(proxy_state& st, client_conn& conn, incoming_request req) {
    auto t0 = clock::now();
    st.stats.inflight_requests.add(1);
    request_record rec;
    rec.request_id = req.request_id;
    rec.method = req.method;
    rec.path = req.path;
    const bool get = req.method == "GET" || req.method == "HEAD", post = req.method == "POST";
    std::string_view api = api_path(req.path);
    const char* endpoint_label = "other";

    auto reply_error = [&](const api_error& e) { rec.status = e.status, rec.error = e.code; };

    if (req.path == "/healthz") {
        rec.status = 200;
        co_await conn.send(200, "application/json", R"({"status":"ok"})");
    } else if (req.path == "/readyz") {
        bool ready = !st.draining.load();
        rec.status = ready ? 200 : 503;
        co_await conn.send(rec.status, "application/json",
                           ready ? R"({"status":"ready"})" : R"({"status":"draining"})");
    } else if (req.path == "/metrics" && get) {
        rec.status = 200;
        co_await conn.send(200, "text/plain; version=0.0.4; charset=utf-8", st.stats.render());
    } else if (req.path.rfind("/admin/", 0) == 0) {
        endpoint_label = "admin";
        co_await handle_admin(st, conn, req, rec);
    } else if (api == "/chat/completions" || api == "/completions" || api == "/embeddings" || api == "/models" ||
               api.substr(0, 8) == "/models/") {
        endpoint ep = api == "/chat/completions" ? endpoint::chat
                      : api == "/completions"    ? endpoint::completions
                                                 : endpoint::embeddings;
        bool is_models = api.substr(0, 7) == "/models";
        endpoint_label = is_models ? "models" : endpoint_name(ep);
        if (!authorized(st, req)) {
            auto e = invalid_api_key();
            reply_error(e);
            co_await conn.send_error(e);
        } else if (is_models) {
            if (!get) {
                auto e = method_not_allowed(req.method, req.path);
                reply_error(e);
                co_await conn.send_error(e);
            } else if (api == "/models") {
                rec.status = 200;
                co_await conn.send(200, "application/json", models_list(st));
            } else {
                std::string id(api.substr(8));
                const routing::listing_entry* found = nullptr;
                for (const auto& e : st.catalog.listing())
                    if (e.id == id) found = &e;
                if (found) {
                    rec.status = 200;
                    co_await conn.send(200, "application/json", model_object(st, *found).dump());
                } else {
                    auto e = model_not_found(id);
                    reply_error(e);
                    co_await conn.send_error(e);
                }
            }
        } else if (!post) {
            auto e = method_not_allowed(req.method, req.path);
            reply_error(e);
            co_await conn.send_error(e);
        } else {
            co_await forward(st, conn, req, ep, rec);
        }
    } else {
        auto e = not_found(req.method, req.path);
        reply_error(e);
        co_await conn.send_error(e);
    }

    rec.duration_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    st.stats.inflight_requests.add(-1);
    // Labels come from a bounded set (configured names), never from client text.
    st.stats.requests.add({endpoint_label, rec.model_label, rec.backend, std::to_string(rec.status)});
    if (std::string_view(endpoint_label) != "other" && std::string_view(endpoint_label) != "admin") {
        st.stats.duration.observe({endpoint_label, rec.model_label}, rec.duration_ms / 1000.0);
        if (rec.ttfb_ms >= 0)
            st.stats.time_to_first_byte.observe({endpoint_label, rec.model_label}, rec.ttfb_ms / 1000.0);
    }
    if (st.cfg->log.requests) write_log_line(format_record(rec));
}

}  // namespace swapgate::proxy
