#include "bench/sim/models.hpp"

#include <algorithm>

#include "bench/sim/log.hpp"
#include "bench/sim/wire.hpp"

namespace swapgate::sim {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

// One waiting coroutine. `timer` belongs to the waiter's executor (its strand);
// only that executor touches it, so wakers post the cancel there.
struct models::waiter {
    explicit waiter(asio::any_io_executor ex) : timer(std::move(ex), clock::time_point::max()) {}
    net::steady_timer timer;
    bool granted = false;  // a slot was handed over (guarded by mu_)
};

struct models::runtime {
    model_spec spec;
    model_state state = model_state::unloaded;
    int sleep_level = 0;
    bool holds_memory = false;
    bool transition_pending = false;  // a load/sleep/wake timer is running
    uint64_t epoch = 0;               // bumped by every change that voids a pending transition
    int busy = 0;
    std::deque<std::shared_ptr<waiter>> queue;      // slot waiters, FIFO
    std::vector<std::shared_ptr<waiter>> watchers;  // state-change waiters
    uint64_t loads = 0, unloads = 0;
    std::chrono::system_clock::time_point changed_at = std::chrono::system_clock::now();
    model_counters counters;
};

namespace {

admit error(int status, std::string body) { return {status, std::move(body)}; }
admit loading() { return error(503, unavailable_error("Loading model")); }
admit cancelled() { return {0, {}}; }

// Suspends until the waiter's timer is cancelled (woken or the coroutine cancelled).
net::awaitable<bool> sleep_until_woken(net::steady_timer& t) {
    co_await t.async_wait();
    auto cs = co_await asio::this_coro::cancellation_state;
    t.expires_at(clock::time_point::max());
    co_return cs.cancelled() == asio::cancellation_type::none;
}

}  // namespace

std::string_view to_string(model_state s) {
    switch (s) {
    case model_state::unloaded: return "unloaded";
    case model_state::loading: return "loading";
    case model_state::loaded: return "loaded";
    case model_state::sleeping: return "sleeping";
    case model_state::waking: return "waking";
    }
    return "unknown";
}

void models::signal(const std::shared_ptr<waiter>& w) {
    asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
}

models::models(asio::any_io_executor ex, std::vector<model_spec> specs, int64_t memory_mb)
    : ex_(std::move(ex)), capacity_mb_(memory_mb) {
    for (auto& s : specs) {
        auto r = std::make_unique<runtime>();
        r->spec = std::move(s);
        rt_.push_back(std::move(r));
    }
}

models::~models() = default;

const model_spec& models::spec(size_t i) const { return rt_[i]->spec; }
model_counters& models::counters(size_t i) { return rt_[i]->counters; }

int models::find(std::string_view name) const {
    if (rt_.size() == 1) return 0;
    for (size_t i = 0; i < rt_.size(); ++i)
        if (rt_[i]->spec.name == name) return static_cast<int>(i);
    return -1;
}

void models::start() {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < rt_.size(); ++i) {
        if (!rt_[i]->spec.loaded) continue;
        if (auto a = begin_load_locked(i); !a.ok())
            log_line("model '" + rt_[i]->spec.name + "' not loaded at start: does not fit in --memory-mb");
    }
}

int64_t models::used_mb_locked() const {
    int64_t used = 0;
    for (const auto& r : rt_)
        if (r->holds_memory) used += r->spec.memory_mb;
    return used;
}

int64_t models::memory_used_mb() const {
    std::lock_guard lock(mu_);
    return used_mb_locked();
}

void models::notify_locked(runtime& r) {
    for (auto& w : r.watchers) signal(w);
    r.watchers.clear();
}

void models::set_state_locked(runtime& r, model_state s) {
    r.state = s;
    r.changed_at = std::chrono::system_clock::now();
    notify_locked(r);
}

admit models::begin_load_locked(size_t i) {
    runtime& r = *rt_[i];
    if (capacity_mb_ > 0 && used_mb_locked() + r.spec.memory_mb > capacity_mb_) {
        std::string msg = "model '" + r.spec.name + "' needs " + std::to_string(r.spec.memory_mb) + " MB but only " +
                          std::to_string(capacity_mb_ - used_mb_locked()) + " MB of " + std::to_string(capacity_mb_) +
                          " MB are free";
        return error(507, openai_error(msg, "server_error", "model", "insufficient_memory"));
    }
    r.holds_memory = true;
    ++r.loads;
    log_line("loading model '" + r.spec.name + "' (" + std::to_string(r.spec.load_ms) + " ms)");
    begin_transition_locked(i, model_state::loading, r.spec.load_ms);
    return {};
}

void models::begin_transition_locked(size_t i, model_state state, int64_t ms) {
    runtime& r = *rt_[i];
    ++r.epoch;
    r.transition_pending = true;
    set_state_locked(r, state);
    model_state target = state == model_state::sleeping ? model_state::sleeping : model_state::loaded;
    asio::co_spawn(ex_, finish_transition(i, r.epoch, target, ms), asio::detached);
}

net::awaitable<void> models::finish_transition(size_t i, uint64_t epoch, model_state target, int64_t ms) {
    net::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(std::chrono::milliseconds(ms));
    co_await t.async_wait();
    std::lock_guard lock(mu_);
    runtime& r = *rt_[i];
    if (r.epoch != epoch) co_return;  // unloaded (or otherwise superseded) meanwhile
    r.transition_pending = false;
    if (target == model_state::sleeping) r.holds_memory = false;  // weights offloaded or discarded
    else log_line("model '" + r.spec.name + "' loaded");
    set_state_locked(r, target);
}

net::awaitable<bool> models::wait_change(size_t, std::shared_ptr<waiter>& w) {
    return sleep_until_woken(w->timer);
}

net::awaitable<admit> models::ready(size_t i) {
    runtime& r = *rt_[i];
    std::shared_ptr<waiter> w;
    for (;;) {
        {
            std::lock_guard lock(mu_);
            switch (r.state) {
            case model_state::loaded: co_return admit{};
            case model_state::sleeping: co_return error(503, unavailable_error("Model is sleeping"));
            case model_state::waking: co_return loading();
            case model_state::loading:
                if (r.spec.loaded) co_return loading();
                break;
            case model_state::unloaded:
                if (r.spec.loaded) co_return error(503, unavailable_error("Model not loaded"));
                if (auto a = begin_load_locked(i); !a.ok()) co_return a;
                break;
            }
            if (!w) w = std::make_shared<waiter>(co_await asio::this_coro::executor);
            r.watchers.push_back(w);
        }
        if (!co_await wait_change(i, w)) {
            std::lock_guard lock(mu_);
            std::erase(r.watchers, w);
            co_return cancelled();
        }
    }
}

net::awaitable<bool> models::acquire(size_t i) {
    runtime& r = *rt_[i];
    std::shared_ptr<waiter> w;
    {
        std::lock_guard lock(mu_);
        if (r.busy < r.spec.slots && r.queue.empty()) {
            ++r.busy;
            co_return true;
        }
        w = std::make_shared<waiter>(co_await asio::this_coro::executor);
        r.queue.push_back(w);
    }
    // Leaves the queue however this coroutine ends (cancelled, or destroyed while
    // suspended); a slot handed over in the meantime is passed on.
    struct leave_queue {
        models* self;
        size_t i;
        std::shared_ptr<waiter> w;
        bool keep = false;
        ~leave_queue() {
            if (keep) return;
            bool pass_on = false;
            {
                std::lock_guard lock(self->mu_);
                pass_on = w->granted;
                if (!pass_on) std::erase(self->rt_[i]->queue, w);
            }
            if (pass_on) self->release(i);
        }
    } guard{this, i, w};
    for (;;) {
        bool woken = co_await sleep_until_woken(w->timer);
        if (!woken) co_return false;
        std::lock_guard lock(mu_);
        if (w->granted) {
            guard.keep = true;
            co_return true;
        }
    }
}

void models::release(size_t i) {
    std::lock_guard lock(mu_);
    runtime& r = *rt_[i];
    if (!r.queue.empty()) {
        auto w = std::move(r.queue.front());
        r.queue.pop_front();
        w->granted = true;  // the slot moves to the waiter; busy stays the same
        signal(w);
    } else if (r.busy > 0) {
        --r.busy;
    }
}

net::awaitable<admit> models::load(size_t i) {
    runtime& r = *rt_[i];
    std::shared_ptr<waiter> w;
    bool started = false;
    for (;;) {
        {
            std::lock_guard lock(mu_);
            switch (r.state) {
            case model_state::loaded: co_return admit{};
            case model_state::sleeping: co_return error(503, unavailable_error("Model is sleeping"));
            case model_state::loading:
            case model_state::waking: break;
            case model_state::unloaded:
                if (started) co_return error(503, unavailable_error("Model was unloaded while loading"));
                if (auto a = begin_load_locked(i); !a.ok()) co_return a;
                started = true;
                break;
            }
            if (!w) w = std::make_shared<waiter>(co_await asio::this_coro::executor);
            r.watchers.push_back(w);
        }
        if (!co_await wait_change(i, w)) {
            std::lock_guard lock(mu_);
            std::erase(r.watchers, w);
            co_return cancelled();
        }
    }
}

admit models::unload(size_t i) {
    std::lock_guard lock(mu_);
    runtime& r = *rt_[i];
    if (r.state == model_state::unloaded) return {};
    ++r.epoch;
    ++r.unloads;
    r.transition_pending = false;
    r.holds_memory = false;
    r.sleep_level = 0;
    log_line("model '" + r.spec.name + "' unloaded");
    set_state_locked(r, model_state::unloaded);
    return {};
}

net::awaitable<admit> models::sleep(size_t i, int level) {
    runtime& r = *rt_[i];
    std::shared_ptr<waiter> w;
    for (;;) {
        {
            std::lock_guard lock(mu_);
            if (r.state == model_state::loaded) {
                r.sleep_level = level;
                begin_transition_locked(i, model_state::sleeping, r.spec.sleep_ms);
            } else if (r.state == model_state::sleeping && !r.transition_pending) {
                co_return admit{};
            } else if (r.state == model_state::unloaded) {
                co_return error(409, openai_error("model '" + r.spec.name + "' is not loaded", "invalid_request_error",
                                                  "model", "model_not_loaded"));
            }
            // loading / waking / falling asleep: wait for the next change
            if (!w) w = std::make_shared<waiter>(co_await asio::this_coro::executor);
            r.watchers.push_back(w);
        }
        if (!co_await wait_change(i, w)) {
            std::lock_guard lock(mu_);
            std::erase(r.watchers, w);
            co_return cancelled();
        }
    }
}

net::awaitable<admit> models::wake(size_t i) {
    runtime& r = *rt_[i];
    std::shared_ptr<waiter> w;
    bool started = false;
    for (;;) {
        {
            std::lock_guard lock(mu_);
            if (r.state == model_state::loaded) {
                co_return admit{};
            } else if (r.state == model_state::unloaded) {
                if (started) co_return error(503, unavailable_error("Model was unloaded while waking"));
                co_return error(409, openai_error("model '" + r.spec.name + "' is not loaded", "invalid_request_error",
                                                  "model", "model_not_loaded"));
            } else if (r.state == model_state::sleeping && !r.transition_pending) {
                if (capacity_mb_ > 0 && used_mb_locked() + r.spec.memory_mb > capacity_mb_)
                    co_return error(507, openai_error("not enough free memory to wake model '" + r.spec.name + "'",
                                                      "server_error", "model", "insufficient_memory"));
                r.holds_memory = true;
                r.sleep_level = 0;
                started = true;
                begin_transition_locked(i, model_state::waking, r.spec.wake_ms);
            }
            if (!w) w = std::make_shared<waiter>(co_await asio::this_coro::executor);
            r.watchers.push_back(w);
        }
        if (!co_await wait_change(i, w)) {
            std::lock_guard lock(mu_);
            std::erase(r.watchers, w);
            co_return cancelled();
        }
    }
}

bool models::healthy() const {
    std::lock_guard lock(mu_);
    for (const auto& r : rt_)
        if (r->spec.loaded && (r->state == model_state::loading || r->state == model_state::waking)) return false;
    return true;
}

std::vector<model_view> models::snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<model_view> out;
    out.reserve(rt_.size());
    for (const auto& r : rt_) {
        model_view v;
        v.spec = r->spec;
        v.state = r->state;
        v.sleep_level = r->sleep_level;
        v.holds_memory = r->holds_memory;
        v.busy_slots = r->busy;
        v.queued = r->queue.size();
        v.loads = r->loads;
        v.unloads = r->unloads;
        v.changed_at = r->changed_at;
        out.push_back(std::move(v));
    }
    return out;
}

}  // namespace swapgate::sim
