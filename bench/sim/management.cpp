// Management APIs a swap scheduler drives: Ollama (/api/ps, /api/tags,
// /api/generate load/unload, /api/version) and vLLM sleep mode (/sleep,
// /wake_up, /is_sleeping). Residency itself lives in models.cpp.
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <nlohmann/json.hpp>

#include "bench/sim/app.hpp"
#include "bench/sim/hash.hpp"
#include "bench/sim/wire.hpp"

namespace swapgate::sim {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using json = nlohmann::json;

constexpr int64_t mib = 1048576;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string digest(std::string_view name) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    uint64_t h = fnv1a(name);
    for (int i = 0; i < 64; ++i) {
        if (i % 16 == 0) h = mix64(h + static_cast<uint64_t>(i));
        out += hex[(h >> (4 * (i % 16))) & 15];
    }
    return out;
}

json details() {
    return {{"parent_model", ""},     {"format", "gguf"},        {"family", "sim"},
            {"families", {"sim"}}, {"parameter_size", "7B"}, {"quantization_level", "Q4_K_M"}};
}

// A model that stays until told otherwise: Ollama prints keep_alive=-1 as ~292
// years ahead. (Added to system_clock's nanoseconds, 292 years overflow; 200 do not.)
std::string never_expires() {
    return rfc3339(std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 200));
}

// keep_alive 0, "0", "0s", "0m", "0h": unload now.
bool is_unload(const json& body) {
    auto it = body.find("keep_alive");
    if (it == body.end()) return false;
    if (it->is_number()) return it->get<double>() == 0;
    if (!it->is_string()) return false;
    const auto& s = it->get_ref<const std::string&>();
    return s == "0" || s == "0s" || s == "0m" || s == "0h" || s == "0ms";
}

net::awaitable<admit> load_or_gone(app& a, client_io& io, size_t model) {
    auto r = co_await (a.registry().load(model) || io.gone());
    if (r.index() == 1) co_return admit{0, {}};
    co_return std::get<0>(r);
}

net::awaitable<bool> gone_result(app& a, client_io& io) {
    ++a.stats().client_disconnects;
    io.abort();
    co_return false;
}

std::string load_body(const std::string& name, bool chat, const std::string& reason) {
    json out = {{"model", name}, {"created_at", rfc3339(std::chrono::system_clock::now())}};
    if (chat) out["message"] = {{"role", "assistant"}, {"content", ""}};
    else out["response"] = "";
    out["done"] = true;
    out["done_reason"] = reason;
    return dump(out);
}

// POST /api/generate or /api/chat with no prompt/messages: load, or unload with keep_alive 0.
net::awaitable<bool> load_unload(app& a, http_request& req, client_io& io, bool chat) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
        co_return co_await respond(io, 400, openai_error("request body is not a JSON object", "invalid_request_error"),
                                   req.keep_alive);
    auto name_it = body.find("model");
    if (name_it == body.end() || !name_it->is_string())
        co_return co_await respond(io, 400, openai_error("'model' is required", "invalid_request_error", "model"),
                                   req.keep_alive);
    std::string name = name_it->get<std::string>();
    bool empty = true;
    if (!chat) {
        auto p = body.find("prompt");
        empty = p == body.end() || p->is_null() || (p->is_string() && p->get_ref<const std::string&>().empty());
    } else {
        auto m = body.find("messages");
        empty = m == body.end() || m->is_null() || (m->is_array() && m->empty());
    }
    bool unload = is_unload(body);
    if (!empty && !unload)
        co_return co_await respond(
            io, 501,
            openai_error("swapgate-sim: /api/generate and /api/chat only load (empty prompt) or unload (keep_alive 0); "
                         "use /v1/chat/completions",
                         "invalid_request_error", chat ? "messages" : "prompt"),
            req.keep_alive);
    int model = a.registry().find(name);
    if (model < 0) co_return co_await respond(io, 404, model_not_found(name), req.keep_alive);
    std::string reason = unload ? "unload" : "load";
    if (unload) {
        a.registry().unload(static_cast<size_t>(model));
    } else {
        admit ad = co_await load_or_gone(a, io, static_cast<size_t>(model));
        if (ad.status == 0) co_return co_await gone_result(a, io);
        if (!ad.ok()) co_return co_await respond(io, ad.status, ad.body, req.keep_alive);
    }
    co_return co_await respond(io, 200, load_body(name, chat, reason), req.keep_alive);
}

json model_entry(const model_view& v) {
    return {{"name", v.spec.name},   {"model", v.spec.name},   {"size", v.spec.memory_mb * mib},
            {"digest", digest(v.spec.name)}, {"details", details()}};
}

std::string tags_body(app& a) {
    json models = json::array();
    for (const auto& v : a.registry().snapshot()) {
        json m = model_entry(v);
        m["modified_at"] = rfc3339(v.changed_at);
        models.push_back(std::move(m));
    }
    return dump({{"models", models}});
}

std::string ps_body(app& a) {
    json models = json::array();
    for (const auto& v : a.registry().snapshot()) {
        if (v.state != model_state::loaded) continue;
        json m = model_entry(v);
        m["expires_at"] = never_expires();
        m["size_vram"] = v.spec.memory_mb * mib;
        models.push_back(std::move(m));
    }
    return dump({{"models", models}});
}

// Index named by ?model= (default: the first model); -1 when unknown.
int vllm_model(app& a, const http_request& req) {
    std::string name = query_param(req.target, "model");
    if (name.empty()) return 0;
    return a.registry().find(name);
}

}  // namespace

net::awaitable<bool> handle_ollama(app& a, http_request& req, client_io& io, std::string_view path) {
    const bool get = req.method == "GET";
    if (get && path == "/api/version") co_return co_await respond(io, 200, R"({"version":"0.6.2"})", req.keep_alive);
    if (get && path == "/api/tags") co_return co_await respond(io, 200, tags_body(a), req.keep_alive);
    if (get && path == "/api/ps") co_return co_await respond(io, 200, ps_body(a), req.keep_alive);
    if (req.method == "POST" && (path == "/api/generate" || path == "/api/chat"))
        co_return co_await load_unload(a, req, io, path == "/api/chat");
    co_return co_await respond(io, 404, openai_error("no such endpoint: " + std::string(path), "invalid_request_error"),
                               req.keep_alive);
}

net::awaitable<bool> handle_vllm(app& a, http_request& req, client_io& io, std::string_view path) {
    int model = vllm_model(a, req);
    if (model < 0)
        co_return co_await respond(io, 404, model_not_found(query_param(req.target, "model")), req.keep_alive);
    auto i = static_cast<size_t>(model);
    if (path == "/is_sleeping" && (req.method == "GET")) {
        bool sleeping = a.registry().snapshot()[i].state == model_state::sleeping;
        co_return co_await respond(io, 200, sleeping ? R"({"is_sleeping":true})" : R"({"is_sleeping":false})",
                                   req.keep_alive);
    }
    if (req.method != "POST")
        co_return co_await respond(io, 405, openai_error("method not allowed", "invalid_request_error"), req.keep_alive,
                                   "Allow: POST\r\n");
    std::variant<admit, std::monostate> r;
    if (path == "/sleep") {
        std::string level_text = query_param(req.target, "level");
        int level = level_text.empty() ? 1 : std::atoi(level_text.c_str());
        if (level != 1 && level != 2)
            co_return co_await respond(io, 400, openai_error("level must be 1 or 2", "invalid_request_error", "level"),
                                       req.keep_alive);
        r = co_await (a.registry().sleep(i, level) || io.gone());
    } else {
        r = co_await (a.registry().wake(i) || io.gone());
    }
    if (r.index() == 1 || std::get<0>(r).status == 0) co_return co_await gone_result(a, io);
    const admit& ad = std::get<0>(r);
    if (!ad.ok()) co_return co_await respond(io, ad.status, ad.body, req.keep_alive);
    std::string bytes = http_response(200, {}, {}, req.keep_alive);
    if (co_await io.write(bytes)) co_return false;
    co_return req.keep_alive;
}

}  // namespace swapgate::sim
