#include "proxy/swap/liveness_watch.hpp"

#include "proxy/swap/http_probe.hpp"

#include <nlohmann/json.hpp>

namespace swapgate::proxy {

namespace asio = net::asio;
using namespace std::chrono_literals;

net::awaitable<std::optional<long long>> ollama_resident_mb(std::shared_ptr<backend_pool> pool, std::string want,
                                                            bool cpu) {
    auto r = co_await http_probe(*pool, "GET", "/api/ps", "", 2s);
    if (!r.ok()) co_return std::nullopt;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("models") || !j["models"].is_array()) co_return std::nullopt;
    std::string want_tagged = want.find(':') == std::string::npos ? want + ":latest" : want;
    for (const auto& e : j["models"]) {
        if (!e.is_object()) continue;
        std::string name = e.value("name", std::string()), model = e.value("model", std::string());
        if (name != want && name != want_tagged && model != want && model != want_tagged) continue;
        const char* key = cpu ? "size" : "size_vram";
        long long bytes = e.contains(key) && e[key].is_number() ? e[key].get<long long>() : 0;
        co_return bytes > 0 ? bytes / (1024 * 1024) : 0;
    }
    co_return std::nullopt;
}

struct liveness_watch::state {
    state(net::any_io_executor s, target t, std::function<void(std::string)> c)
        : timer(s), what(std::move(t)), crash(std::move(c)) {}
    net::steady_timer timer;
    target what;
    std::function<void(std::string)> crash;
    std::uint64_t generation = 0;  // each load starts a new one; unloading ends it
    bool alive = true;
};

namespace {

// "" when the server is fine, else what is wrong.
net::awaitable<std::string> check_once(std::shared_ptr<liveness_watch::state> s) {
    const auto& t = s->what;
    if (t.what == liveness_watch::check::ollama_ps) {
        auto mb = co_await ollama_resident_mb(t.pool, t.upstream_model, t.cpu);
        if (mb) co_return std::string();
        co_return "is no longer listed by Ollama's /api/ps (Ollama restarted, stopped, or unloaded it)";
    }
    auto r = co_await http_probe(*t.pool, "GET", t.health_path, "", 2s);
    if (r.ok()) co_return std::string();
    co_return "does not answer " + t.health_path + ": " + r.describe();
}

net::awaitable<void> watch(std::shared_ptr<liveness_watch::state> s, std::uint64_t gen) {
    int failures = 0;
    for (;;) {
        s->timer.expires_after(s->what.interval);
        co_await s->timer.async_wait();
        if (!s->alive || s->generation != gen) co_return;
        std::string why = co_await check_once(s);
        if (!s->alive || s->generation != gen) co_return;
        if (why.empty()) {
            failures = 0;
            continue;
        }
        if (++failures < 2) continue;
        ++s->generation;  // one report per load
        s->crash(std::move(why));
        co_return;
    }
}

}  // namespace

liveness_watch::liveness_watch(net::any_io_executor strand, target t, std::function<void(std::string)> crash)
    : st_(std::make_shared<state>(std::move(strand), std::move(t), std::move(crash))) {}

liveness_watch::~liveness_watch() {
    st_->alive = false;
    st_->timer.cancel();
}

void liveness_watch::loaded() {
    if (st_->what.interval.count() <= 0) return;
    auto gen = ++st_->generation;
    st_->timer.cancel();  // a watch of an earlier load ends
    asio::co_spawn(st_->timer.get_executor(), watch(st_, gen), asio::detached);
}

void liveness_watch::unloading() {
    ++st_->generation;
    st_->timer.cancel();
}

}  // namespace swapgate::proxy
