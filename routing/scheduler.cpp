// Construction, the events, request bookkeeping and the timed work.
// Which model loads next and which ones make room: scheduler_pick.cpp.
#include "routing/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace swapgate::routing {

using namespace std::chrono_literals;
using detail::model_rt;
using detail::request_rt;

namespace {

std::string mb(long long v) { return std::to_string(v) + " MB"; }

duration whole_seconds_at_least_1(sched_clock::duration d) {
    // Retry-After is sent in seconds; never advertise 0.
    auto s = std::chrono::ceil<std::chrono::seconds>(d);
    return std::max<duration>(s, 1s);
}

}  // namespace

// ---- construction ----------------------------------------------------------

scheduler_build scheduler::create(scheduler_settings settings, std::vector<device_spec> devices,
                                  std::vector<model_spec> models) {
    scheduler_build out;
    auto& err = out.errors;
    if (settings.window < 0ms) err.push_back("scheduler: window must not be negative");
    if (settings.max_wait && *settings.max_wait <= 0ms) err.push_back("scheduler: max_wait must be positive");
    if (settings.drain_timeout < 0ms) err.push_back("scheduler: drain_timeout must not be negative");
    if (settings.max_loaded_global < 1) err.push_back("scheduler: max_loaded must be at least 1");
    if (settings.aging <= 0ms) err.push_back("scheduler: aging must be positive");
    if (settings.rate_half_life <= 0ms) err.push_back("scheduler: rate_half_life must be positive");
    if (!(settings.cost_smoothing > 0 && settings.cost_smoothing <= 1))
        err.push_back("scheduler: cost_smoothing must be in (0, 1]");
    if (settings.backoff_initial <= 0ms || settings.backoff_max < settings.backoff_initial)
        err.push_back("scheduler: backoff_initial must be positive and at most backoff_max");

    std::unordered_set<std::string> names;
    for (const auto& d : devices) {
        if (d.name.empty()) err.push_back("device: a device has no name");
        else if (!names.insert(d.name).second) err.push_back("device '" + d.name + "': defined twice");
        if (d.budget_mb <= 0) err.push_back("device '" + d.name + "': budget must be positive");
        if (d.max_loaded < 1) err.push_back("device '" + d.name + "': max_loaded must be at least 1");
    }

    scheduler s;
    names.clear();
    // Per device: memory and count of models that, once resident, never leave.
    std::vector<long long> fixed_mb(devices.size(), 0);
    std::vector<int> pinned_count(devices.size(), 0);
    int pinned_total = 0;
    for (auto& spec : models) {
        const std::string who = "model '" + spec.name + "'";
        if (spec.name.empty()) err.push_back("model: a model has no name");
        else if (!names.insert(spec.name).second) err.push_back(who + ": defined twice");
        auto dev = std::find_if(devices.begin(), devices.end(),
                                [&](const device_spec& d) { return d.name == spec.device; });
        if (dev == devices.end()) {
            err.push_back(who + ": unknown device '" + spec.device + "'");
            continue;
        }
        const auto di = static_cast<std::size_t>(dev - devices.begin());
        if (spec.memory_mb < 0) err.push_back(who + ": memory_mb must not be negative");
        if (spec.slots < 1) err.push_back(who + ": slots must be at least 1");
        if (spec.max_queue < 1) err.push_back(who + ": max_queue must be at least 1");
        if (spec.ttl < 0ms) err.push_back(who + ": ttl must not be negative");
        if (spec.queue_timeout <= 0ms) err.push_back(who + ": queue_timeout must be positive");
        if (spec.initial_load_cost < 0ms) err.push_back(who + ": initial_load_cost must not be negative");
        if (spec.min_residency && *spec.min_residency < 0ms)
            err.push_back(who + ": min_residency must not be negative");
        if (spec.memory_mb > dev->budget_mb)
            err.push_back(who + ": needs " + mb(spec.memory_mb) + " but device '" + dev->name + "' has only " +
                          mb(dev->budget_mb));
        const bool stays = spec.pinned || spec.kind == lifecycle::static_server;
        if (stays) fixed_mb[di] += spec.memory_mb;
        if (spec.pinned && spec.kind != lifecycle::static_server) {
            ++pinned_count[di];
            ++pinned_total;
        }

        model_rt m;
        m.device = di;
        m.cold_cost = spec.initial_load_cost;
        m.wake_cost = spec.initial_wake_cost.value_or(std::max<duration>(1s, spec.initial_load_cost / 5));
        m.spec = std::move(spec);
        if (m.spec.kind == lifecycle::static_server) m.state = model_state::loaded;
        s.models_.push_back(std::move(m));
    }
    // Pinned and static models never leave: they must fit together and leave
    // room for each other model on the device, or that model could never load.
    bool any_unpinned_dynamic = false;
    for (std::size_t d = 0; d < devices.size(); ++d) {
        const auto& dev = devices[d];
        if (fixed_mb[d] > dev.budget_mb)
            err.push_back("device '" + dev.name + "': pinned and static models need " + mb(fixed_mb[d]) +
                          ", the budget is " + mb(dev.budget_mb));
        bool unpinned_here = false;
        for (const auto& m : s.models_) {
            if (m.device != d || m.spec.pinned || m.spec.kind == lifecycle::static_server) continue;
            unpinned_here = any_unpinned_dynamic = true;
            if (fixed_mb[d] <= dev.budget_mb && fixed_mb[d] + m.spec.memory_mb > dev.budget_mb &&
                m.spec.memory_mb <= dev.budget_mb)
                err.push_back("model '" + m.spec.name + "': " + mb(m.spec.memory_mb) +
                              " never fits next to the pinned and static models on '" + dev.name + "' (" +
                              mb(fixed_mb[d]) + " of " + mb(dev.budget_mb) + ")");
        }
        if (pinned_count[d] + (unpinned_here ? 1 : 0) > dev.max_loaded)
            err.push_back("device '" + dev.name + "': " + std::to_string(pinned_count[d]) +
                          " pinned models leave no room under max_loaded " + std::to_string(dev.max_loaded));
    }
    if (pinned_total + (any_unpinned_dynamic ? 1 : 0) > settings.max_loaded_global)
        err.push_back("scheduler: " + std::to_string(pinned_total) +
                      " pinned models leave no room under the global max_loaded " +
                      std::to_string(settings.max_loaded_global));
    if (!err.empty()) return out;

    s.settings_ = settings;
    s.devices_ = std::move(devices);
    out.value.emplace(std::move(s));
    return out;
}

void scheduler::start(time_point now) {
    now = enter(now);
    // Pinned first: they are meant to stay, so they get the room first.
    for (int pass = 0; pass < 2; ++pass)
        for (model_id m = 0; m < models_.size(); ++m) {
            const auto& spec = models_[m].spec;
            if (spec.preload && spec.pinned == (pass == 0) && spec.kind != lifecycle::static_server) {
                auto p = plan_room(m, now, false, false, swap_kind::admin);
                if (p.ok && models_[m].state == model_state::unloaded) commit(m, p, now, false, true, true);
            }
        }
    leave(now);
}

// ---- event frame -----------------------------------------------------------

// Every event: settle the event itself first, then whatever timed work is
// due (so a request that finished, or arrived for a model with a free slot,
// at the instant a timeout or decision falls due is handled as the caller
// saw it), then schedule or take the next decision.
time_point scheduler::enter(time_point now) {
    now_ = std::max(now_, now);
    if (!first_event_) first_event_ = now_;
    return now_;
}

void scheduler::leave(time_point now) {
    run_due(now);
    if (has_candidates()) want_decision(now);
    if (decide_at_ && *decide_at_ <= now) decide(now);
}

void scheduler::run_due(time_point now) {
    expire_queues(now);
    expire_drains(now);
    expire_ttl(now);
    if (decide_at_ && *decide_at_ <= now) decide(now);
}

void scheduler::want_decision(time_point now) {
    // The baselines decide at once; ours gathers a window of demand first,
    // because a swap chosen on the first request of a mixed burst is a swap
    // the burst's other models pay for. A load that fits in free room evicts
    // nothing, so there is nothing to choose: it starts at once.
    const duration w = settings_.policy == policy_kind::value && !fits_without_eviction() ? settings_.window : 0ms;
    const time_point t = now + w;
    if (!decide_at_ || t < *decide_at_) decide_at_ = t;
}

bool scheduler::is_load_candidate(const detail::model_rt& m) {
    return m.queued > 0 && (m.state == model_state::unloaded || m.state == model_state::sleeping);
}

bool scheduler::has_candidates() const {
    return std::any_of(models_.begin(), models_.end(), is_load_candidate);
}

void scheduler::tick(time_point now) {
    now = enter(now);
    leave(now);
}

std::vector<action> scheduler::take_actions() {
    std::vector<action> out;
    out.swap(actions_);
    return out;
}

void scheduler::emit(action a) { actions_.push_back(std::move(a)); }

// ---- requests --------------------------------------------------------------

void scheduler::request_arrived(time_point now, request_id req, model_id model) {
    now = enter(now);
    if (model >= models_.size()) {
        reject(req, model, 400, 0ms, "unknown model");
        leave(now);
        return;
    }
    if (requests_.count(req)) {
        ++counters_.ignored_events;
        leave(now);
        return;
    }
    auto& m = models_[model];
    m.rate = rate_now(m, now) + 1.0;
    m.rate_at = now;
    if (m.state == model_state::failed) {
        if (now < m.retry_at) {
            reject(req, model, 503, whole_seconds_at_least_1(m.retry_at - now),
                   "model '" + m.spec.name + "' failed to load (" + m.last_error + "); retrying later");
            leave(now);
            return;
        }
        m.state = model_state::unloaded;  // backoff over: a new request may load it again
    }
    request_rt r;
    r.model = model;
    r.ticket = next_ticket_++;
    r.arrived = now;
    if (m.state == model_state::loaded && m.queued == 0 && static_cast<int>(m.running.size()) < m.spec.slots) {
        auto& stored = requests_.emplace(req, r).first->second;
        dispatch(req, stored, now);
    } else if (m.queued >= m.spec.max_queue) {
        reject(req, model, 429, whole_seconds_at_least_1(estimated_wait(model, now)),
               "too many requests waiting for model '" + m.spec.name + "'");
    } else {
        requests_.emplace(req, r);
        m.queue.push_back({req, r.ticket});
        ++m.queued;
        m.arrival_sum_ms += std::chrono::duration_cast<duration>(now.time_since_epoch()).count();
    }
    leave(now);
}

void scheduler::request_finished(time_point now, request_id req) {
    now = enter(now);
    auto it = requests_.find(req);
    if (it == requests_.end() || !it->second.running) ++counters_.ignored_events;
    else end_running(req, now);
    leave(now);
}

void scheduler::request_cancelled(time_point now, request_id req) {
    now = enter(now);
    auto it = requests_.find(req);
    if (it == requests_.end()) {
        ++counters_.ignored_events;
    } else if (it->second.running) {
        ++counters_.cancelled_running;
        end_running(req, now);
    } else {
        ++counters_.cancelled_queued;
        const model_id mi = it->second.model;
        auto& m = models_[mi];
        --m.queued;
        m.arrival_sum_ms -= std::chrono::duration_cast<duration>(it->second.arrived.time_since_epoch()).count();
        requests_.erase(it);  // its queue entry is now a tombstone
        purge_front(m);
        after_queue_shrank(mi);
    }
    leave(now);
}

void scheduler::dispatch(request_id id, request_rt& r, time_point now) {
    auto& m = models_[r.model];
    r.running = true;
    r.dispatched = now;
    m.running.insert(id);
    ++m.served_since_load;
    m.last_used = now;
    ++counters_.dispatches;
    emit({.kind = action::dispatch, .req = id, .model = r.model});
}

void scheduler::dispatch_queued(model_id mi, time_point now) {
    auto& m = models_[mi];
    while (m.state == model_state::loaded && m.queued > 0 && static_cast<int>(m.running.size()) < m.spec.slots) {
        purge_front(m);
        const auto e = m.queue.front();
        m.queue.pop_front();
        auto& r = requests_.at(e.id);
        --m.queued;
        m.arrival_sum_ms -= std::chrono::duration_cast<duration>(r.arrived.time_since_epoch()).count();
        dispatch(e.id, r, now);
    }
    purge_front(m);
}

void scheduler::purge_front(model_rt& m) {
    while (!m.queue.empty()) {
        const auto& e = m.queue.front();
        auto it = requests_.find(e.id);
        if (it != requests_.end() && it->second.ticket == e.ticket && !it->second.running) return;
        m.queue.pop_front();
    }
}

void scheduler::after_queue_shrank(model_id mi) {
    // A pending load that nobody waits for any more is called off (unless an
    // admin or preload asked for it); a load already started runs to the end.
    auto& m = models_[mi];
    if (m.queued == 0 && m.state == model_state::pending && !m.admin_hold) drop_reservation(mi);
}

void scheduler::reject(request_id id, model_id m, int status, duration retry_after, std::string reason) {
    if (status == 429) ++counters_.rejected_429;
    else if (status == 503) ++counters_.rejected_503;
    else ++counters_.rejected_other;
    emit({.kind = action::reject, .req = id, .model = m, .status = status, .retry_after = retry_after,
          .reason = std::move(reason)});
}

void scheduler::reject_queue(model_id mi, int status, duration retry_after, const std::string& reason) {
    auto& m = models_[mi];
    for (const auto& e : m.queue) {
        auto it = requests_.find(e.id);
        if (it == requests_.end() || it->second.ticket != e.ticket || it->second.running) continue;
        requests_.erase(it);
        reject(e.id, mi, status, retry_after, reason);
    }
    m.queue.clear();
    m.queued = 0;
    m.arrival_sum_ms = 0;
}

void scheduler::end_running(request_id id, time_point now) {
    auto it = requests_.find(id);
    const model_id mi = it->second.model;
    auto& m = models_[mi];
    const double took = std::chrono::duration<double, std::milli>(now - it->second.dispatched).count();
    m.service_ms = m.service_ms == 0 ? took : m.service_ms + 0.2 * (took - m.service_ms);
    m.running.erase(id);
    requests_.erase(it);
    m.last_used = now;
    if (m.state == model_state::draining && m.running.empty()) emit_unload(mi, now);
    else dispatch_queued(mi, now);
}

void scheduler::fail_running(model_id mi, const std::string& reason) {
    auto& m = models_[mi];
    for (request_id id : m.running) {
        requests_.erase(id);
        ++counters_.failed_requests;
        emit({.kind = action::fail_request, .req = id, .model = mi, .reason = reason});
    }
    m.running.clear();
}

// ---- model lifecycle -------------------------------------------------------

void scheduler::emit_load(model_id mi, time_point now) {
    auto& m = models_[mi];
    m.state = model_state::loading;
    m.load_started = now;
    m.load_is_wake = m.asleep;
    ++counters_.loads;
    if (m.asleep) ++counters_.wakes;
    emit({.kind = action::load, .model = mi, .wake = m.asleep});
}

void scheduler::emit_unload(model_id mi, time_point now) {
    (void)now;
    auto& m = models_[mi];
    m.state = model_state::unloading;
    ++counters_.unloads;
    emit({.kind = action::unload, .model = mi, .reason = m.eviction_reason,
          .sleep_level = m.spec.kind == lifecycle::vllm_sleep ? 1 : 0});
}

void scheduler::learn_load(model_rt& m, duration measured, bool wake) {
    const double a = settings_.cost_smoothing;
    auto blend = [a](duration old, duration x) {
        return duration{static_cast<long long>(std::llround(static_cast<double>(old.count()) +
                                                            a * static_cast<double>((x - old).count())))};
    };
    if (wake) {
        m.wake_cost = m.wake_measured ? blend(m.wake_cost, measured) : measured;
        m.wake_measured = true;
        ++m.wake_count;
    } else {
        m.cold_cost = m.cold_measured ? blend(m.cold_cost, measured) : measured;
        m.cold_measured = true;
    }
    ++m.load_count;
    m.total_load_time += measured;
}

void scheduler::load_finished(time_point now, model_id mi, std::optional<long long> observed_mb) {
    now = enter(now);
    if (mi >= models_.size() || models_[mi].state != model_state::loading) {
        ++counters_.ignored_events;
        leave(now);
        return;
    }
    auto& m = models_[mi];
    learn_load(m, std::chrono::duration_cast<duration>(now - m.load_started), m.load_is_wake);
    const long long before = mem(m);
    if (observed_mb && *observed_mb >= 0) m.observed_mb = *observed_mb;
    m.state = model_state::loaded;
    m.asleep = false;
    m.loaded_at = now;
    m.served_since_load = 0;
    m.last_used = now;
    m.consecutive_failures = 0;
    m.admin_hold = false;
    m.eviction_reason.clear();
    if (mem(m) > before) restore_budget(mi, now);
    dispatch_queued(mi, now);
    start_pending(now);  // a smaller figure than estimated may let a pending load start
    leave(now);
}

duration scheduler::backoff_for(int failures) const {
    duration b = settings_.backoff_initial;
    for (int i = 1; i < failures && b < settings_.backoff_max; ++i) b *= 2;
    return std::min(b, settings_.backoff_max);
}

void scheduler::load_failed(time_point now, model_id mi, std::string why) {
    now = enter(now);
    if (mi >= models_.size() || models_[mi].state != model_state::loading) {
        ++counters_.ignored_events;
        leave(now);
        return;
    }
    auto& m = models_[mi];
    ++counters_.load_failures;
    m.state = model_state::failed;
    m.asleep = false;  // the driver leaves a failed model fully stopped
    m.admin_hold = false;
    ++m.consecutive_failures;
    m.last_error = std::move(why);
    const duration backoff = backoff_for(m.consecutive_failures);
    m.retry_at = now + backoff;
    reject_queue(mi, 503, whole_seconds_at_least_1(backoff),
                 "model '" + m.spec.name + "' failed to load: " + m.last_error);
    start_pending(now);
    leave(now);
}

void scheduler::unload_finished(time_point now, model_id mi) {
    now = enter(now);
    if (mi >= models_.size() || models_[mi].state != model_state::unloading) {
        ++counters_.ignored_events;
        leave(now);
        return;
    }
    auto& m = models_[mi];
    const bool sleeps = m.spec.kind == lifecycle::vllm_sleep;
    m.state = sleeps ? model_state::sleeping : model_state::unloaded;
    m.asleep = sleeps;
    victim_gone(mi);
    start_pending(now);
    leave(now);
}

void scheduler::model_crashed(time_point now, model_id mi, std::string why) {
    if (mi < models_.size() && models_[mi].state == model_state::loading) {
        load_failed(now, mi, "crashed while loading: " + why);
        return;
    }
    now = enter(now);
    if (mi >= models_.size()) {
        ++counters_.ignored_events;
        leave(now);
        return;
    }
    auto& m = models_[mi];
    switch (m.state) {
        case model_state::loaded:
        case model_state::draining:
            ++counters_.crashes;
            fail_running(mi, "model '" + m.spec.name + "' crashed: " + why);
            if (is_static(m)) {  // not ours to restart: it stays "resident"
                dispatch_queued(mi, now);
                break;
            }
            ++counters_.evictions["crash"];
            m.state = model_state::unloaded;
            m.asleep = false;
            victim_gone(mi);
            break;
        case model_state::unloading:
            ++counters_.crashes;
            m.state = model_state::unloaded;  // memory is free, but a sleeping server is gone
            m.asleep = false;
            victim_gone(mi);
            break;
        case model_state::sleeping:
            // A vllm-sleep server that died asleep: it held no device memory,
            // but there is nothing left to wake; the next load is cold.
            ++counters_.crashes;
            m.state = model_state::unloaded;
            m.asleep = false;
            break;
        case model_state::pending:
            // Chosen to wake, still waiting for its victims: the reservation
            // stands, but the load it starts will be cold.
            if (!m.asleep) {
                ++counters_.ignored_events;
                break;
            }
            ++counters_.crashes;
            m.asleep = false;
            break;
        default:
            ++counters_.ignored_events;
            break;
    }
    m.last_error = std::move(why);
    start_pending(now);
    leave(now);
}

// ---- timed work ------------------------------------------------------------

void scheduler::expire_queues(time_point now) {
    for (model_id mi = 0; mi < models_.size(); ++mi) {
        auto& m = models_[mi];
        bool shrank = false;
        // Queues are in arrival order: only the front can be due.
        while (m.queued > 0) {
            purge_front(m);
            const auto e = m.queue.front();
            auto it = requests_.find(e.id);
            if (it->second.arrived + m.spec.queue_timeout > now) break;
            m.queue.pop_front();
            --m.queued;
            m.arrival_sum_ms -= std::chrono::duration_cast<duration>(it->second.arrived.time_since_epoch()).count();
            requests_.erase(it);
            reject(e.id, mi, 503, whole_seconds_at_least_1(estimated_wait(mi, now)),
                   "timed out waiting for model '" + m.spec.name + "'");
            shrank = true;
        }
        purge_front(m);
        if (shrank) after_queue_shrank(mi);
    }
}

void scheduler::expire_drains(time_point now) {
    for (model_id mi = 0; mi < models_.size(); ++mi) {
        auto& m = models_[mi];
        if (m.state != model_state::draining || m.drain_deadline > now) continue;
        // The documented choice: the unload goes ahead and whatever still runs
        // is failed, so a stuck generation cannot hold the device forever.
        ++counters_.drain_timeouts;
        fail_running(mi, "model '" + m.spec.name + "' was unloaded (drain_timeout) while this request ran");
        emit_unload(mi, now);
    }
}

void scheduler::expire_ttl(time_point now) {
    for (model_id mi = 0; mi < models_.size(); ++mi) {
        auto& m = models_[mi];
        if (m.state != model_state::loaded || is_static(m) || m.spec.pinned || m.spec.ttl <= 0ms) continue;
        if (!m.running.empty() || m.queued > 0 || m.last_used + m.spec.ttl > now) continue;
        evict(mi, now, "ttl", std::nullopt);
    }
}

std::optional<time_point> scheduler::next_wakeup() const {
    std::optional<time_point> t = decide_at_;
    auto consider = [&t](time_point x) {
        if (!t || x < *t) t = x;
    };
    for (const auto& m : models_) {
        if (m.queued > 0) {
            // purge_front keeps a live entry at the front whenever queued > 0.
            auto it = requests_.find(m.queue.front().id);
            if (it != requests_.end()) consider(it->second.arrived + m.spec.queue_timeout);
        }
        if (m.state == model_state::draining) consider(m.drain_deadline);
        if (m.state == model_state::loaded && !is_static(m) && !m.spec.pinned && m.spec.ttl > 0ms &&
            m.running.empty() && m.queued == 0)
            consider(m.last_used + m.spec.ttl);
    }
    return t;
}

}  // namespace swapgate::routing
