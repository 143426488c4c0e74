// The figures decisions use (memory, costs, residency, rates, occupancy), the
// read-only views for the admin API and metrics, and the admin commands.
#include "routing/scheduler.hpp"

#include <algorithm>
#include <cmath>

namespace swapgate::routing {

using namespace std::chrono_literals;
using detail::model_rt;

std::string_view to_string(policy_kind p) {
    switch (p) {
        case policy_kind::value: return "value";
        case policy_kind::fifo: return "fifo";
        case policy_kind::lru: return "lru";
    }
    return "?";
}

std::string_view to_string(lifecycle k) {
    switch (k) {
        case lifecycle::process: return "process";
        case lifecycle::ollama: return "ollama";
        case lifecycle::vllm_sleep: return "vllm-sleep";
        case lifecycle::static_server: return "static";
    }
    return "?";
}

std::string_view to_string(model_state s) {
    switch (s) {
        case model_state::unloaded: return "unloaded";
        case model_state::pending: return "pending";
        case model_state::loading: return "loading";
        case model_state::loaded: return "loaded";
        case model_state::draining: return "draining";
        case model_state::unloading: return "unloading";
        case model_state::sleeping: return "sleeping";
        case model_state::failed: return "failed";
    }
    return "?";
}

std::string to_string(const action& a) {
    const std::string m = " model=" + std::to_string(a.model);
    const std::string r = " req=" + std::to_string(a.req);
    switch (a.kind) {
        case action::dispatch: return "dispatch" + r + m;
        case action::reject:
            return "reject" + r + m + " status=" + std::to_string(a.status) +
                   " retry_after=" + std::to_string(a.retry_after.count()) + "ms (" + a.reason + ")";
        case action::load: return std::string(a.wake ? "wake" : "load") + m;
        case action::unload:
            return "unload" + m + " sleep=" + std::to_string(a.sleep_level) + " (" + a.reason + ")";
        case action::fail_request: return "fail_request" + r + m + " (" + a.reason + ")";
    }
    return "?";
}

// ---- figures ---------------------------------------------------------------

long long scheduler::mem(const model_rt& m) const { return m.observed_mb >= 0 ? m.observed_mb : m.spec.memory_mb; }

duration scheduler::reload_cost(const model_rt& m) const { return m.asleep ? m.wake_cost : m.cold_cost; }

duration scheduler::victim_reload_cost(const model_rt& m) const {
    // Evicting a vllm-sleep model puts it to sleep: bringing it back is a wake.
    return m.spec.kind == lifecycle::vllm_sleep ? m.wake_cost : m.cold_cost;
}

duration scheduler::min_residency(const model_rt& m) const {
    if (settings_.policy != policy_kind::value) return 0ms;  // the baselines have none
    return m.spec.min_residency.value_or(std::max<duration>(5s, victim_reload_cost(m)));
}

duration scheduler::max_wait(const model_rt& m) const {
    return settings_.max_wait.value_or(std::max<duration>(10s, 2 * reload_cost(m)));
}

double scheduler::rate_now(const model_rt& m, time_point now) const {
    if (m.rate == 0 || now <= m.rate_at) return m.rate;
    const double halves = std::chrono::duration<double>(now - m.rate_at).count() /
                          std::chrono::duration<double>(settings_.rate_half_life).count();
    return m.rate * std::exp2(-halves);
}

double scheduler::rate_per_s(const model_rt& m, time_point now) const {
    // A count decayed with half-life H settles at rate x H / ln 2 once it has
    // been observed for several half-lives; after `seen` seconds the decayed
    // exposure is only H / ln 2 x (1 - 2^(-seen / H)), so divide by that:
    // early in a run the rate is the plain count per second instead of a
    // figure several times too small. At least 10 s of exposure, so that the
    // first request or two do not read as a torrent.
    const double h = std::chrono::duration<double>(settings_.rate_half_life).count();
    double seen = first_event_ ? std::chrono::duration<double>(now - *first_event_).count() : 0.0;
    seen = std::max(seen, 10.0);
    return rate_now(m, now) * std::log(2.0) / (h * (1.0 - std::exp2(-seen / h)));
}

long long scheduler::committed_mb(std::size_t device) const {
    // What the device will hold once every decided swap is through: victims
    // already on their way out are not counted, reservations are.
    long long sum = 0;
    for (const auto& m : models_)
        if (m.device == device && (m.state == model_state::pending || m.state == model_state::loading ||
                                   m.state == model_state::loaded))
            sum += mem(m);
    return sum;
}

int scheduler::committed_count(std::optional<std::size_t> device) const {
    int n = 0;
    for (const auto& m : models_)
        if (!is_static(m) && (!device || m.device == *device) &&
            (m.state == model_state::pending || m.state == model_state::loading || m.state == model_state::loaded))
            ++n;
    return n;
}

int scheduler::physical_count(std::optional<std::size_t> device) const {
    int n = 0;
    for (const auto& m : models_)
        if (!is_static(m) && (!device || m.device == *device) &&
            (m.state == model_state::loading || m.state == model_state::loaded ||
             m.state == model_state::draining || m.state == model_state::unloading))
            ++n;
    return n;
}

long long scheduler::resident_mb(std::size_t device) const {
    long long sum = 0;
    for (const auto& m : models_)
        if (m.device == device && (m.state == model_state::loading || m.state == model_state::loaded ||
                                   m.state == model_state::draining || m.state == model_state::unloading))
            sum += mem(m);
    return sum;
}

// ---- views -----------------------------------------------------------------

scheduler::model_view scheduler::view(model_id mi) const {
    const auto& m = models_.at(mi);
    model_view v;
    v.name = m.spec.name;
    v.device = devices_[m.device].name;
    v.kind = m.spec.kind;
    v.state = m.state;
    v.pinned = m.spec.pinned;
    v.memory_estimated_mb = m.spec.memory_mb;
    v.memory_observed_mb = m.observed_mb;
    v.memory_mb = mem(m);
    v.in_flight = static_cast<int>(m.running.size());
    v.queued = m.queued;
    v.slots = m.spec.slots;
    v.last_used = m.last_used;
    v.loaded_at = m.loaded_at;
    v.load_count = m.load_count;
    v.wake_count = m.wake_count;
    v.mean_load_time = m.load_count ? m.total_load_time / m.load_count : 0ms;
    v.cold_cost = m.cold_cost;
    v.wake_cost = m.wake_cost;
    v.reload_cost = reload_cost(m);
    v.min_residency = min_residency(m);
    v.max_wait = max_wait(m);
    v.recent_rate_per_min = rate_per_s(m, now_) * 60.0;
    v.consecutive_failures = m.consecutive_failures;
    v.retry_at = m.retry_at;
    v.last_error = m.last_error;
    if (m.state == model_state::draining || m.state == model_state::unloading) v.eviction_reason = m.eviction_reason;
    return v;
}

duration scheduler::estimated_wait(model_id mi, time_point now) const {
    const auto& m = models_.at(mi);
    now = std::max(now, now_);
    // Requests ahead of a new one, served `slots` at a time.
    const double service = m.service_ms > 0 ? m.service_ms : 0.0;
    auto rounds_ms = [&](int ahead) {
        if (ahead <= 0) return 0.0;
        return std::ceil(static_cast<double>(ahead) / m.spec.slots) * service;
    };
    const int running = static_cast<int>(m.running.size());
    const int behind_free = m.queued + 1 - (m.spec.slots - running);  // when loaded
    const int after_load = m.queued + 1 - m.spec.slots;               // when it comes back
    double ms = 0;
    switch (m.state) {
        case model_state::loaded:
            if (running < m.spec.slots && m.queued == 0) return 0ms;
            ms = rounds_ms(behind_free);
            break;
        case model_state::loading: {
            const auto cost = m.load_is_wake ? m.wake_cost : m.cold_cost;
            ms = std::max(0.0, std::chrono::duration<double, std::milli>(m.load_started + cost - now).count()) +
                 rounds_ms(after_load);
            break;
        }
        case model_state::pending:
            ms = static_cast<double>((settings_.window + reload_cost(m)).count()) + rounds_ms(after_load);
            break;
        case model_state::unloaded:
        case model_state::sleeping:
            // Until the scheduler would start the load (room, residency, its
            // swap-worth test, max_wait), then the load itself.
            ms = std::chrono::duration<double, std::milli>(load_start_estimate(mi, now) - now).count() +
                 static_cast<double>(reload_cost(m).count()) + rounds_ms(after_load);
            break;
        case model_state::draining:
        case model_state::unloading:
            ms = service + static_cast<double>((settings_.window + victim_reload_cost(m)).count()) +
                 rounds_ms(after_load);
            break;
        case model_state::failed:
            ms = static_cast<double>(std::max<duration>(0ms, std::chrono::duration_cast<duration>(m.retry_at - now))
                                         .count() +
                                     m.cold_cost.count());
            break;
    }
    return duration{static_cast<long long>(std::llround(ms))};
}

scheduler::can_load_answer scheduler::can_load(time_point now, model_id mi) const {
    can_load_answer a;
    if (mi >= models_.size()) {
        a.why_not = "unknown model";
        return a;
    }
    now = std::max(now, now_);
    const auto& m = models_[mi];
    switch (m.state) {
        case model_state::loaded:
            a.why_not = is_static(m) ? "static models are always running" : "already loaded";
            return a;
        case model_state::pending:
        case model_state::loading: a.why_not = "already loading"; return a;
        case model_state::draining:
        case model_state::unloading: a.why_not = "being unloaded"; return a;
        case model_state::failed:
            if (now < m.retry_at) {
                a.why_not = "failed to load (" + m.last_error + "); in backoff";
                return a;
            }
            break;
        default: break;
    }
    auto plan = plan_room(mi, now, false, true, swap_kind::admin);
    a.fits_now = plan.ok && plan.victims.empty();
    a.would_evict = plan.victims;
    a.why_not = plan.why;
    return a;
}

// ---- admin -----------------------------------------------------------------

std::string scheduler::request_load(time_point now, model_id mi, bool force) {
    now = enter(now);
    std::string why;
    if (mi >= models_.size()) {
        why = "unknown model";
    } else {
        auto& m = models_[mi];
        switch (m.state) {
            case model_state::loaded:
                if (is_static(m)) why = "static models are always running";
                break;
            case model_state::pending:
                m.admin_hold = true;  // keep it even if its waiters leave
                break;
            case model_state::loading: break;
            case model_state::draining:
            case model_state::unloading: why = "being unloaded; load it again when unloaded"; break;
            case model_state::failed:
                if (now < m.retry_at && !force) {
                    why = "failed to load (" + m.last_error + "); in backoff, use force to retry now";
                    break;
                }
                m.state = model_state::unloaded;
                [[fallthrough]];
            case model_state::unloaded:
            case model_state::sleeping: {
                auto plan = plan_room(mi, now, force, true, swap_kind::admin);
                if (plan.ok) commit(mi, plan, now, false, true, true);
                else why = plan.why;
                break;
            }
        }
    }
    leave(now);
    return why;
}

std::string scheduler::request_unload(time_point now, model_id mi) {
    now = enter(now);
    std::string why;
    if (mi >= models_.size()) {
        why = "unknown model";
    } else {
        auto& m = models_[mi];
        if (is_static(m)) why = "static models are not managed by swapgate";
        else if (m.spec.pinned) why = "model is pinned";
        else switch (m.state) {
                case model_state::loaded: evict(mi, now, "admin", std::nullopt); break;
                case model_state::loading: why = "model is loading; unload it when loaded"; break;
                case model_state::pending:
                    if (m.queued > 0) why = "requests are waiting for this model";
                    else drop_reservation(mi);
                    break;
                default: break;  // already unloaded or on its way
            }
    }
    leave(now);
    return why;
}

void scheduler::unload_idle(time_point now) {
    now = enter(now);
    for (model_id mi = 0; mi < models_.size(); ++mi) {
        const auto& m = models_[mi];
        if (m.state == model_state::loaded && !is_static(m) && !m.spec.pinned && m.running.empty() && m.queued == 0)
            evict(mi, now, "admin", std::nullopt);
    }
    leave(now);
}

}  // namespace swapgate::routing
