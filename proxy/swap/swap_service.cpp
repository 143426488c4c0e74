#include "proxy/swap/swap_service.hpp"

#include "proxy/request_log.hpp"

#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/socket.h>

namespace swapgate::proxy {

namespace asio = net::asio;
using routing::action;
using sclock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

double seconds_since(sclock::time_point t) { return std::chrono::duration<double>(sclock::now() - t).count(); }

// The client of a queued request: readable means it sent more (a pipelined
// request: it is still there) or closed (gone). POLLRDHUP tells a closed peer
// even when a pipelined request is still unread in the socket.
bool peer_gone(net::tcp_stream::socket_type& s) {
    pollfd p{s.native_handle(), POLLRDHUP, 0};
    int n = ::poll(&p, 1, 0);
    if (n < 0) return errno != EINTR;
    return n > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void leave_if_gone(const std::shared_ptr<swap_ticket>& t, net::tcp_stream::socket_type& client) {
    if (!peer_gone(client)) return;
    t->client_gone = true;
    t->wake.cancel();
}

// With a pipelined request unread, the socket stays readable: wait_read says
// nothing more, so check every 250 ms until the request leaves the queue.
void recheck_later(std::shared_ptr<swap_ticket> t, net::tcp_stream::socket_type* client) {
    auto timer = std::make_shared<net::steady_timer>(t->ex, std::chrono::milliseconds(250));
    timer->async_wait([t, client, timer](const net::error_code& ec) {
        // Once admit() returned the ticket is no longer waiting: the socket is not touched.
        if (ec || t->st != swap_ticket::state::waiting || t->client_gone) return;
        leave_if_gone(t, *client);
        if (!t->client_gone) recheck_later(t, client);
    });
}

void watch_client(std::shared_ptr<swap_ticket> t, net::tcp_stream::socket_type* client) {
    t->watching_client = true;
    client->async_wait(net::tcp_stream::socket_type::wait_read, [t, client](const net::error_code& ec) {
        if (t->st != swap_ticket::state::waiting) return;
        if (ec) {
            t->watching_client = false;
            t->client_gone = true;
            t->wake.cancel();
            return;
        }
        leave_if_gone(t, *client);
        // Otherwise a pipelined request is waiting to be read: the client is
        // still there; watch it by polling (watching_client stays set).
        if (!t->client_gone) recheck_later(t, client);
    });
}

}  // namespace

swap_service::swap_service(asio::io_context& ioc, std::shared_ptr<const config::config> cfg, metrics& stats,
                           const std::map<std::string, std::shared_ptr<backend_pool>>& pools)
    : ioc_(ioc), cfg_(std::move(cfg)), stats_(stats), strand_(asio::make_strand(ioc)), tick_(strand_) {
    std::vector<std::string> errors;
    sched_ = routing::build_scheduler(*cfg_, inputs_, errors);
    if (!sched_) {
        std::string all;
        for (const auto& e : errors) all += "\n  " + e;
        throw std::runtime_error("the models cannot be scheduled:" + all);
    }
    models_.resize(inputs_.models.size());
    snap_ = std::make_unique<snapshot_atomics[]>(models_.size());
    for (routing::model_id id = 0; id < models_.size(); ++id) {
        const auto& m = cfg_->models[inputs_.config_index[id]];
        auto& rt = models_[id];
        rt.cfg = &m;
        by_cfg_[&m] = id;
        const auto& b = cfg_->backends.at(m.backend);
        std::shared_ptr<backend_pool> configured;
        if (auto it = pools.find(m.backend); it != pools.end()) configured = it->second;
        rt.driver = make_driver(m, b, driver_context{ioc_, stats_, configured});
        if (m.serving.driver != config::driver_kind::process) rt.pool = configured;
        rt.driver->on_crash = [this, id](std::string why) {
            asio::post(strand_, [this, id, why = std::move(why)]() mutable { on_crash(id, std::move(why)); });
        };
    }
}

swap_service::~swap_service() { terminate(); }

swap_service::residency_snapshot swap_service::residency(const config::model* m) const {
    auto id = managed(m);
    if (!id) return {};
    const auto& a = snap_[*id];
    auto ready_at = sclock::time_point(sclock::duration(a.ready_at.load(std::memory_order_relaxed)));
    auto left = std::max(sclock::duration::zero(), ready_at - sclock::now());
    return {a.ready.load(std::memory_order_relaxed), a.fits.load(std::memory_order_relaxed),
            std::chrono::ceil<std::chrono::milliseconds>(left)};
}

std::optional<routing::model_id> swap_service::managed(const config::model* m) const {
    auto it = by_cfg_.find(m);
    if (it == by_cfg_.end()) return std::nullopt;
    return it->second;
}

void swap_service::start() {
    if (models_.empty()) return;
    // Drivers' init first (an external vLLM server is put to sleep), then the
    // scheduler's preloads.
    auto remaining = std::make_shared<std::atomic<std::size_t>>(models_.size());
    for (auto& rt : models_) {
        asio::co_spawn(rt.driver->executor(), rt.driver->init(), [this, remaining](std::exception_ptr) {
            if (--*remaining == 0)
                asio::post(strand_, [this] {
                    sched_->start(sclock::now());
                    run_actions();
                });
        });
    }
}

net::awaitable<std::shared_ptr<swap_ticket>> swap_service::admit(routing::model_id model, net::tcp_stream::socket_type* client,
                                                                 std::optional<sclock::time_point> deadline) {
    auto ex = co_await asio::this_coro::executor;
    auto t = std::make_shared<swap_ticket>(ex, next_id_.fetch_add(1), model);
    t->wake.expires_at(deadline ? *deadline : sclock::time_point::max());
    auto t0 = sclock::now();
    asio::post(strand_, [this, t] { arrive(t); });
    // The service's answer is posted to this strand, so it cannot run before
    // this coroutine suspends below.
    bool first = true;
    while (t->st == swap_ticket::state::waiting && !t->client_gone) {
        if (!first && client && !t->watching_client) watch_client(t, client);
        first = false;
        auto [ec] = co_await t->wake.async_wait();
        if (!ec && t->st == swap_ticket::state::waiting) {
            t->timed_out = true;
            t->client_gone = true;  // leaves the queue like a client that left
        }
        if (t->st == swap_ticket::state::waiting && !t->client_gone) {
            // The first wake-up is only the scheduler's first answer: queued.
            t->queued = true;
        }
    }
    if (t->watching_client && client) {
        net::error_code ignored;
        client->cancel(ignored);
    }
    if (t->st == swap_ticket::state::waiting && t->client_gone) {
        t->st = swap_ticket::state::gone;
        asio::post(strand_, [this, t] {
            account();
            tickets_.erase(t->id);
            sched_->request_cancelled(sclock::now(), t->id);
            run_actions();
        });
    }
    if (t->queued && t->st == swap_ticket::state::dispatched)
        stats_.queue_wait.observe({models_[model].cfg->name}, seconds_since(t0));
    co_return t;
}

void swap_service::finished(std::shared_ptr<swap_ticket> t, bool cancelled) {
    t->call = nullptr;
    asio::post(strand_, [this, t, cancelled] {
        account();
        tickets_.erase(t->id);
        if (cancelled) sched_->request_cancelled(sclock::now(), t->id);
        else sched_->request_finished(sclock::now(), t->id);
        run_actions();
    });
}

// ---- on the strand ----------------------------------------------------------

void swap_service::arrive(std::shared_ptr<swap_ticket> t) {
    account();
    tickets_[t->id] = t;
    sched_->request_arrived(sclock::now(), t->id, t->model);
    run_actions();
    // Still waiting: wake the session once so it starts watching its client.
    auto it = tickets_.find(t->id);
    if (it != tickets_.end() && !it->second->answered)
        asio::post(t->ex, [t] {
            if (t->st == swap_ticket::state::waiting) t->wake.cancel();
        });
}

void swap_service::run_actions() {
    if (stopped_) return;
    for (;;) {
        auto acts = sched_->take_actions();
        if (acts.empty()) break;
        for (const auto& a : acts) carry_out(a);
    }
    arm_tick();
    publish_gauges();
}

void swap_service::carry_out(const action& a) {
    switch (a.kind) {
        case action::dispatch: {
            auto it = tickets_.find(a.req);
            if (it == tickets_.end()) return;  // the client left meanwhile; its cancel is on the way
            auto t = it->second;
            auto pool = models_[a.model].pool;
            if (!pool) {
                // Cannot happen while the scheduler and the drivers agree; fail loudly, not silently.
                log_event("error", "dispatch", "model '" + models_[a.model].cfg->name + "' has no server to send to");
                tickets_.erase(it);
                t->answered = true;
                sched_->request_finished(sclock::now(), a.req);
                asio::post(t->ex, [t] {
                    t->st = swap_ticket::state::rejected;
                    t->status = 503;
                    t->reason = "the model's server is not available";
                    t->wake.cancel();
                });
                return;
            }
            t->answered = true;
            ++models_[a.model].served_this_load;
            asio::post(t->ex, [t, pool] {
                if (t->st != swap_ticket::state::waiting) return;
                t->pool = pool;
                t->st = swap_ticket::state::dispatched;
                t->wake.cancel();
            });
            return;
        }
        case action::reject: {
            auto it = tickets_.find(a.req);
            if (it == tickets_.end()) return;
            auto t = it->second;
            tickets_.erase(it);
            const auto& name = models_[a.model].cfg->name;
            stats_.queue_rejections.add({name, std::to_string(a.status)});
            t->answered = true;
            asio::post(t->ex, [t, status = a.status, retry = a.retry_after, reason = a.reason] {
                if (t->st != swap_ticket::state::waiting) return;
                t->st = swap_ticket::state::rejected;
                t->status = status;
                t->retry_after = retry;
                t->reason = reason;
                t->wake.cancel();
            });
            return;
        }
        case action::fail_request: {
            auto it = tickets_.find(a.req);
            if (it == tickets_.end()) return;
            auto t = it->second;
            tickets_.erase(it);
            asio::post(t->ex, [t, reason = a.reason] {
                t->failed = true;
                t->fail_reason = reason;
                if (t->call) t->call->abort();
            });
            return;
        }
        case action::load: start_load(a.model, a.wake); return;
        case action::unload: start_unload(a.model, a.sleep_level, a.reason); return;
    }
}

void swap_service::start_load(routing::model_id m, bool wake) {
    auto& rt = models_[m];
    rt.load_started = sclock::now();
    rt.load_is_wake = wake;
    log_event("info", "load", "model '" + rt.cfg->name + "': " + (wake ? "waking" : "loading") + " (" +
                                  config::driver_name(rt.cfg->serving.driver) + ")");
    asio::co_spawn(rt.driver->executor(), rt.driver->load(wake),
                   [this, m](std::exception_ptr e, load_outcome o) {
                       if (e) {
                           o = load_outcome{};
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& x) {
                               o.why = std::string("driver error: ") + x.what();
                           } catch (...) {
                               o.why = "driver error";
                           }
                       }
                       asio::post(strand_, [this, m, o = std::move(o)]() mutable { on_loaded(m, std::move(o)); });
                   });
}

void swap_service::on_loaded(routing::model_id m, load_outcome o) {
    if (stopped_) return;
    account();
    auto& rt = models_[m];
    double secs = seconds_since(rt.load_started);
    const auto& name = rt.cfg->name;
    const char* kind = rt.load_is_wake ? "wake" : "cold";
    if (o.ok) {
        rt.pool = rt.driver->pool();
        if (!rt.pool) {
            o.ok = false;
            o.why = "the server died right after loading";
        }
    }
    stats_.model_loads.add({name, kind, o.ok ? "ok" : "failed"});
    if (o.ok) {
        stats_.model_load_time.observe({name}, secs);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f", secs);
        log_event("info", "loaded", "model '" + name + "' serving after " + buf + " s" +
                                        (o.observed_mb ? ", using " + std::to_string(*o.observed_mb) + " MB" : ""));
        rt.served_this_load = 0;
        sched_->load_finished(sclock::now(), m, o.observed_mb);
    } else {
        log_event("error", "load_failed", "model '" + name + "': " + o.why);
        if (rt.cfg->serving.driver == config::driver_kind::process) rt.pool.reset();
        sched_->load_failed(sclock::now(), m, o.why);
    }
    run_actions();
}

void swap_service::start_unload(routing::model_id m, int sleep_level, std::string reason) {
    auto& rt = models_[m];
    loaded_model_leaves(m);
    log_event("info", "unload", "model '" + rt.cfg->name + "': " + (sleep_level > 0 ? "sleeping" : "unloading") +
                                    " (" + reason + ")");
    if (rt.cfg->serving.driver == config::driver_kind::process) rt.pool.reset();
    asio::co_spawn(rt.driver->executor(), rt.driver->unload(sleep_level),
                   [this, m, reason](std::exception_ptr) {
                       asio::post(strand_, [this, m, reason] { on_unloaded(m, reason); });
                   });
}

void swap_service::on_unloaded(routing::model_id m, std::string reason) {
    if (stopped_) return;
    account();
    stats_.model_unloads.add({models_[m].cfg->name, reason});
    sched_->unload_finished(sclock::now(), m);
    run_actions();
}

void swap_service::on_crash(routing::model_id m, std::string why) {
    if (stopped_) return;
    account();
    auto& rt = models_[m];
    if (sched_->view(m).state == routing::model_state::loaded || sched_->view(m).state == routing::model_state::draining)
        loaded_model_leaves(m);
    log_event("error", "crash", "model '" + rt.cfg->name + "': server " + why);
    if (rt.cfg->serving.driver == config::driver_kind::process) rt.pool.reset();
    auto before = sched_->counters().crashes;
    sched_->model_crashed(sclock::now(), m, "the model server " + why);
    if (sched_->counters().crashes != before) stats_.model_unloads.add({rt.cfg->name, "crash"});
    run_actions();
}

void swap_service::arm_tick() {
    auto w = sched_->next_wakeup();
    if (!w) {
        if (tick_at_) tick_.cancel();
        tick_at_.reset();
        return;
    }
    if (tick_at_ && *tick_at_ == *w) return;
    tick_at_ = *w;
    tick_.expires_at(*w);
    tick_.async_wait([this](const net::error_code& ec) {
        if (ec || stopped_) return;
        tick_at_.reset();
        account();
        sched_->tick(sclock::now());
        run_actions();
    });
}

void swap_service::loaded_model_leaves(routing::model_id m) {
    auto& rt = models_[m];
    if (rt.served_this_load < 2) ++rt.wasted_loads;
    rt.served_this_load = 0;
}

void swap_service::account() {
    auto now = sclock::now();
    if (usage_.last == sclock_point{}) {
        usage_.last = now;
        return;
    }
    double dt = std::chrono::duration<double>(now - usage_.last).count();
    usage_.last = now;
    if (dt <= 0) return;
    const auto& devs = sched_->devices();
    for (const auto& d : devs) usage_.budget_mb_s += static_cast<double>(d.budget_mb) * dt;
    for (routing::model_id m = 0; m < models_.size(); ++m) {
        auto v = sched_->view(m);
        if (v.kind == routing::lifecycle::static_server) continue;
        using ms = routing::model_state;
        bool resident = v.state == ms::loading || v.state == ms::loaded || v.state == ms::draining || v.state == ms::unloading;
        if (resident) usage_.resident_mb_s += static_cast<double>(v.memory_mb) * dt;
        if (resident && v.in_flight > 0) usage_.serving_mb_s += static_cast<double>(v.memory_mb) * dt;
    }
}

void swap_service::publish_gauges() {
    for (routing::model_id m = 0; m < models_.size(); ++m) {
        auto v = sched_->view(m);
        auto& rt = models_[m];
        std::string st(routing::to_string(v.state));
        if (st != rt.state_label) {
            if (!rt.state_label.empty()) stats_.model_state.set({rt.cfg->name, rt.state_label}, 0);
            stats_.model_state.set({rt.cfg->name, st}, 1);
            rt.state_label = st;
        }
        stats_.queue_depth.set({rt.cfg->name}, v.queued);
        auto now = sclock::now();
        bool loaded = v.state == routing::model_state::loaded;
        auto& a = snap_[m];
        a.ready.store(loaded && v.in_flight < v.slots && v.queued == 0, std::memory_order_relaxed);
        bool fits = loaded || v.state == routing::model_state::loading || v.state == routing::model_state::pending;
        if (!fits && (v.state == routing::model_state::unloaded || v.state == routing::model_state::sleeping))
            fits = sched_->can_load(now, m).fits_now;
        a.fits.store(fits, std::memory_order_relaxed);
        a.ready_at.store((now + sched_->estimated_wait(m, now)).time_since_epoch().count(), std::memory_order_relaxed);
    }
    const auto& devs = sched_->devices();
    for (std::size_t d = 0; d < devs.size(); ++d) {
        stats_.device_memory.set({devs[d].name, "resident"}, static_cast<double>(sched_->resident_mb(d)));
        stats_.device_memory.set({devs[d].name, "budget"}, static_cast<double>(devs[d].budget_mb));
    }
}

void swap_service::terminate() {
    stopped_ = true;
    for (auto& rt : models_)
        if (rt.driver) rt.driver->terminate();
}

}  // namespace swapgate::proxy
