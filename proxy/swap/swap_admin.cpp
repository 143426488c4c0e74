// The admin side of the swap service: GET /admin/models and the load, unload,
// unload-idle and can-load commands. Each runs on the service's strand.
#include "proxy/swap/swap_service.hpp"

#include <nlohmann/json.hpp>

namespace swapgate::proxy {

namespace asio = net::asio;
using sclock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace); }

json error_doc(const std::string& message, const std::string& code) {
    return json{{"error", {{"message", message}, {"type", "invalid_request_error"}, {"param", nullptr}, {"code", code}}}};
}

long long ms(std::chrono::milliseconds d) { return d.count(); }

}  // namespace

// The answer box an admin coroutine waits on; filled on the service's strand.
struct swap_service::admin_box {
    explicit admin_box(net::any_io_executor e) : ex(e), wake(e) { wake.expires_at(sclock::time_point::max()); }
    net::any_io_executor ex;
    net::steady_timer wake;
    std::optional<admin_answer> answer;
};

// A plain function, not a coroutine: GCC 12 destroys a closure passed by
// value to a coroutine twice.
void swap_service::post_admin(std::shared_ptr<admin_box> b, std::function<admin_answer()> f) {
    asio::post(strand_, [this, b, f = std::move(f)] {
        admin_answer a = f();
        asio::post(b->ex, [b, a = std::move(a)]() mutable {
            b->answer = std::move(a);
            b->wake.cancel();
        });
    });
}

net::awaitable<swap_service::admin_answer> swap_service::await_admin(std::shared_ptr<admin_box> b) {
    while (!b->answer) co_await b->wake.async_wait();
    co_return std::move(*b->answer);
}

std::optional<routing::model_id> swap_service::find(const std::string& name) const {
    for (routing::model_id m = 0; m < models_.size(); ++m) {
        const auto* c = models_[m].cfg;
        if (c->name == name) return m;
        for (const auto& a : c->aliases)
            if (a == name) return m;
    }
    return std::nullopt;
}

std::string swap_service::status_json() const {
    auto now = sclock::now();
    json models = json::array();
    for (routing::model_id m = 0; m < models_.size(); ++m) {
        auto v = sched_->view(m);
        const auto* c = models_[m].cfg;
        json e{{"name", c->name},
               {"driver", config::driver_name(c->serving.driver)},
               {"state", std::string(routing::to_string(v.state))},
               {"device", std::string(v.device)},
               {"memory_mb", v.memory_mb},
               {"memory_estimated_mb", v.memory_estimated_mb},
               {"memory_observed_mb", v.memory_observed_mb >= 0 ? json(v.memory_observed_mb) : json(nullptr)},
               {"in_flight", v.in_flight},
               {"queued", v.queued},
               {"slots", v.slots},
               {"pinned", v.pinned},
               {"load_count", v.load_count},
               {"wake_count", v.wake_count},
               {"mean_load_ms", ms(v.mean_load_time)},
               {"reload_cost_ms", ms(v.reload_cost)},
               {"requests_per_min", v.recent_rate_per_min},
               {"loads_serving_under_2", models_[m].wasted_loads}};
        if (v.last_used != sclock::time_point{})
            e["idle_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(now - v.last_used).count();
        else
            e["idle_ms"] = nullptr;
        if (!v.last_error.empty()) e["last_error"] = std::string(v.last_error);
        if (!v.eviction_reason.empty()) e["eviction_reason"] = std::string(v.eviction_reason);
        if (v.state == routing::model_state::failed && v.retry_at > now)
            e["retry_in_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(v.retry_at - now).count();
        models.push_back(std::move(e));
    }
    for (const auto& c : cfg_->models)
        if (!c.managed())
            models.push_back(json{{"name", c.name}, {"driver", "none"}, {"state", "external"}, {"backend", c.backend}});
    json devices = json::array();
    const auto& devs = sched_->devices();
    for (std::size_t d = 0; d < devs.size(); ++d)
        devices.push_back(json{{"name", devs[d].name},
                               {"budget_mb", devs[d].budget_mb},
                               {"resident_mb", sched_->resident_mb(d)},
                               {"max_loaded", devs[d].max_loaded}});
    const auto& k = sched_->counters();
    json counters{{"loads", k.loads},         {"wakes", k.wakes},
                  {"unloads", k.unloads},     {"swaps", k.swaps},
                  {"dispatches", k.dispatches}, {"rejected_429", k.rejected_429},
                  {"rejected_503", k.rejected_503}, {"load_failures", k.load_failures},
                  {"crashes", k.crashes},     {"cancelled_queued", k.cancelled_queued},
                  {"drain_timeouts", k.drain_timeouts}, {"evictions", k.evictions}};
    std::uint64_t wasted = 0;
    for (const auto& rt : models_) wasted += rt.wasted_loads;
    counters["loads_serving_under_2"] = wasted;
    json usage{{"budget_mb_seconds", usage_.budget_mb_s},
               {"resident_mb_seconds", usage_.resident_mb_s},
               {"serving_mb_seconds", usage_.serving_mb_s},
               {"serving_share", usage_.budget_mb_s > 0 ? usage_.serving_mb_s / usage_.budget_mb_s : 0.0}};
    return dump(json{{"policy", std::string(routing::to_string(sched_->settings().policy))},
                     {"models", models},
                     {"devices", devices},
                     {"counters", counters},
                     {"usage", usage}});
}

net::awaitable<swap_service::admin_answer> swap_service::models_status() {
    auto b = std::make_shared<admin_box>(co_await asio::this_coro::executor);
    post_admin(b, [this] {
        account();
        return admin_answer{200, status_json()};
    });
    co_return co_await await_admin(b);
}

net::awaitable<swap_service::admin_answer> swap_service::load(std::string name, bool force) {
    auto b = std::make_shared<admin_box>(co_await asio::this_coro::executor);
    post_admin(b, [this, name, force] {
        auto m = find(name);
        if (!m) return admin_answer{404, dump(error_doc("no managed model '" + name + "'", "model_not_found"))};
        std::string why = sched_->request_load(sclock::now(), *m, force);
        run_actions();
        if (!why.empty()) return admin_answer{409, dump(error_doc("cannot load '" + name + "': " + why, "cannot_load"))};
        auto v = sched_->view(*m);
        return admin_answer{202, dump(json{{"name", models_[*m].cfg->name}, {"state", std::string(routing::to_string(v.state))}})};
    });
    co_return co_await await_admin(b);
}

net::awaitable<swap_service::admin_answer> swap_service::unload(std::string name) {
    auto b = std::make_shared<admin_box>(co_await asio::this_coro::executor);
    post_admin(b, [this, name] {
        auto m = find(name);
        if (!m) return admin_answer{404, dump(error_doc("no managed model '" + name + "'", "model_not_found"))};
        std::string why = sched_->request_unload(sclock::now(), *m);
        run_actions();
        if (!why.empty()) return admin_answer{409, dump(error_doc("cannot unload '" + name + "': " + why, "cannot_unload"))};
        auto v = sched_->view(*m);
        return admin_answer{202, dump(json{{"name", models_[*m].cfg->name}, {"state", std::string(routing::to_string(v.state))}})};
    });
    co_return co_await await_admin(b);
}

net::awaitable<swap_service::admin_answer> swap_service::unload_idle() {
    auto b = std::make_shared<admin_box>(co_await asio::this_coro::executor);
    post_admin(b, [this] {
        std::vector<std::string> before;
        for (routing::model_id m = 0; m < models_.size(); ++m)
            if (sched_->view(m).state == routing::model_state::loaded) before.push_back(models_[m].cfg->name);
        sched_->unload_idle(sclock::now());
        run_actions();
        json unloading = json::array();
        for (routing::model_id m = 0; m < models_.size(); ++m) {
            auto st = sched_->view(m).state;
            if (st == routing::model_state::unloading || st == routing::model_state::draining)
                unloading.push_back(models_[m].cfg->name);
        }
        return admin_answer{202, dump(json{{"unloading", unloading}})};
    });
    co_return co_await await_admin(b);
}

net::awaitable<swap_service::admin_answer> swap_service::can_load(std::string name) {
    auto b = std::make_shared<admin_box>(co_await asio::this_coro::executor);
    post_admin(b, [this, name] {
        auto m = find(name);
        if (!m) return admin_answer{404, dump(error_doc("no managed model '" + name + "'", "model_not_found"))};
        auto a = sched_->can_load(sclock::now(), *m);
        json evict = json::array();
        for (auto v : a.would_evict) evict.push_back(models_[v].cfg->name);
        json j{{"name", models_[*m].cfg->name}, {"fits_now", a.fits_now}, {"would_evict", evict}};
        j["why_not"] = a.why_not.empty() ? json(nullptr) : json(a.why_not);
        return admin_answer{200, dump(j)};
    });
    co_return co_await await_admin(b);
}

}  // namespace swapgate::proxy
