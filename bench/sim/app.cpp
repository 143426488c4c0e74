// Dispatch and the small endpoints: /health, /v1/models, /sim/stats, /sim/faults.
#include "bench/sim/app.hpp"

#include <ctime>

#include <nlohmann/json.hpp>

#include "bench/sim/wire.hpp"

namespace swapgate::sim {
namespace {

using json = nlohmann::json;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i] == '+' ? ' ' : s[i];
        }
    }
    return out;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// JSON bodies are built outside coroutines: GCC 12 miscompiles braced
// initialisers with string literals inside a coroutine body.
std::string models_body(const std::vector<model_view>& views) {
    json data = json::array();
    auto created = static_cast<int64_t>(std::time(nullptr));
    for (const auto& v : views)
        data.push_back({{"id", v.spec.name}, {"object", "model"}, {"created", created}, {"owned_by", "swapgate-sim"}});
    return dump({{"object", "list"}, {"data", data}});
}

net::awaitable<bool> models_list(app& a, http_request& req, client_io& io) {
    co_return co_await respond(io, 200, models_body(a.registry().snapshot()), req.keep_alive);
}

net::awaitable<bool> health(app& a, http_request& req, client_io& io) {
    if (a.registry().healthy()) co_return co_await respond(io, 200, R"({"status":"ok"})", req.keep_alive);
    co_return co_await respond(io, 503, unavailable_error("Loading model"), req.keep_alive);
}

std::string stats_body(app& a) {
    auto& s = a.stats();
    json per_model = json::object();
    uint64_t loads = 0, unloads = 0;
    for (size_t i = 0; const auto& v : a.registry().snapshot()) {
        auto& c = a.registry().counters(i++);
        loads += v.loads;
        unloads += v.unloads;
        per_model[v.spec.name] = {
            {"state", to_string(v.state)},   {"sleep_level", v.sleep_level},
            {"requests", c.requests.load()}, {"completed", c.completed.load()},
            {"active", c.active.load()},     {"busy_slots", v.busy_slots},
            {"queued", v.queued},            {"slots", v.spec.slots},
            {"loads", v.loads},              {"unloads", v.unloads},
            {"memory_mb", v.spec.memory_mb}, {"holds_memory", v.holds_memory},
        };
    }
    json body = {
        {"requests", s.requests.load()},
        {"http_requests", s.http_requests.load()},
        {"connections_accepted", s.connections_accepted.load()},
        {"open_connections", s.open_connections.load()},
        {"active_requests", s.active_requests.load()},
        {"completed", s.completed.load()},
        {"errors", s.errors.load()},
        {"client_disconnects", s.client_disconnects.load()},
        {"faults_injected", s.faults_injected.load()},
        {"loads", loads},
        {"unloads", unloads},
        {"memory_mb", a.registry().memory_capacity_mb()},
        {"memory_used_mb", a.registry().memory_used_mb()},
        {"per_model", per_model},
    };
    return dump(body);
}

net::awaitable<bool> stats_endpoint(app& a, http_request& req, client_io& io) {
    co_return co_await respond(io, 200, stats_body(a), req.keep_alive);
}

std::string faults_body(const fault_settings& f) {
    json out = {{"fail_nth", f.fail_nth.load()}, {"fail_status", f.fail_status.load()}};
    return dump(out);
}

net::awaitable<bool> faults_endpoint(app& a, http_request& req, client_io& io) {
    auto& f = a.faults();
    if (req.method == "POST") {
        json body = json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object())
            co_return co_await respond(io, 400, openai_error("body must be a JSON object", "invalid_request_error"),
                                       req.keep_alive);
        if (auto it = body.find("fail_status"); it != body.end()) {
            if (!it->is_number_integer() || *it < 0 || *it > 599 || (*it != 0 && *it < 100))
                co_return co_await respond(
                    io, 400, openai_error("fail_status must be an HTTP status", "invalid_request_error", "fail_status"),
                    req.keep_alive);
            if (*it != 0) f.fail_status = it->get<int>();
        }
        if (auto it = body.find("fail_nth"); it != body.end()) {
            if (!it->is_number_integer() || *it < 0)
                co_return co_await respond(
                    io, 400, openai_error("fail_nth must be an integer >= 0", "invalid_request_error", "fail_nth"),
                    req.keep_alive);
            f.fail_nth = it->get<uint64_t>();
            f.seen = 0;
        }
    }
    co_return co_await respond(io, 200, faults_body(f), req.keep_alive);
}

bool is(std::string_view path, std::string_view a, std::string_view b = {}) {
    return path == a || (!b.empty() && path == b);
}

}  // namespace

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

std::string query_param(std::string_view target, std::string_view name) {
    size_t q = target.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        size_t eq = pair.find('=');
        if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return {};
}

net::awaitable<bool> respond(client_io& io, int status, std::string_view body, bool keep_alive,
                             std::string_view extra_headers) {
    std::string bytes = json_response(status, body, keep_alive, extra_headers);
    if (co_await io.write(bytes)) co_return false;
    co_return keep_alive;
}

std::string model_not_found(std::string_view name) {
    return openai_error("model '" + std::string(name) + "' not found", "invalid_request_error", "model",
                        "model_not_found");
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ns % 1000000000));
    return buf;
}

app::app(net::asio::any_io_executor ex, const sim_options& opts) : models_(std::move(ex), opts.models, opts.memory_mb) {
    faults_.fail_nth = opts.fail_nth;
    faults_.fail_status = opts.fail_status;
}

net::awaitable<bool> app::handle(http_request& req, client_io& io) {
    ++stats_.http_requests;
    std::string_view path = path_of(req.target);
    const bool post = req.method == "POST", get = req.method == "GET";
    if (post && is(path, "/v1/chat/completions", "/chat/completions"))
        co_return co_await handle_generation(*this, req, io, endpoint::chat);
    if (post && is(path, "/v1/completions", "/completions"))
        co_return co_await handle_generation(*this, req, io, endpoint::completion);
    if (post && is(path, "/v1/embeddings", "/embeddings")) co_return co_await handle_embeddings(*this, req, io);
    if (get && is(path, "/v1/models", "/models")) co_return co_await models_list(*this, req, io);
    if (get && is(path, "/health", "/v1/health")) co_return co_await health(*this, req, io);
    if (get && path == "/sim/stats") co_return co_await stats_endpoint(*this, req, io);
    if ((get || post) && path == "/sim/faults") co_return co_await faults_endpoint(*this, req, io);
    if (path.starts_with("/api/")) co_return co_await handle_ollama(*this, req, io, path);
    if (is(path, "/sleep", "/wake_up") || path == "/is_sleeping") co_return co_await handle_vllm(*this, req, io, path);
    bool known = is(path, "/v1/chat/completions", "/chat/completions") || is(path, "/v1/completions", "/completions") ||
                 is(path, "/v1/embeddings", "/embeddings") || is(path, "/v1/models", "/models") ||
                 is(path, "/health", "/v1/health") || path == "/sim/stats";
    if (known)
        co_return co_await respond(io, 405, openai_error("method not allowed", "invalid_request_error"), req.keep_alive,
                                   "Allow: GET, POST\r\n");
    co_return co_await respond(io, 404, openai_error("no such endpoint: " + std::string(path), "invalid_request_error"),
                               req.keep_alive);
}

}  // namespace swapgate::sim
