// The choices: which waiting model loads next (decide), which resident models
// make room for it (plan_room), and the reservation that ties the two until
// the victims' unloads completed (commit / start_pending / drop_reservation).
#include "routing/scheduler.hpp"

#include <algorithm>
#include <cmath>

namespace swapgate::routing {

using namespace std::chrono_literals;
using detail::model_rt;

namespace {

double seconds(duration d) { return std::chrono::duration<double>(d).count(); }

struct candidate {
    model_id m = 0;
    time_point oldest{};
    std::uint64_t ticket = 0;  // arrival order of the oldest waiter (ties in time)
    time_point forced_at{};
    bool forced = false;
    double score = 0;
};

}  // namespace

double scheduler::candidate_score(const model_rt& m, time_point now) const {
    // Sum over waiting requests of (1 + age / aging), divided by the reload
    // cost: cheap models with many old waiters first. O(1) from the queue sums.
    return demand_weight(m, now) / std::max(0.1, seconds(reload_cost(m)));
}

double scheduler::away_s(const model_rt& c, const model_rt& v) const {
    // How long `v` is gone if it makes room for `c`: c's load, c's minimum
    // residency, then v's own reload.
    return seconds(reload_cost(c) + min_residency(c) + victim_reload_cost(v));
}

double scheduler::drain_s(const model_rt& v, time_point now) const {
    // How long a victim would take to drain: its running requests end after
    // the mean service time; queued ones (all slots busy) take more rounds.
    const double service = v.service_ms / 1000.0;
    double s = 0;
    for (request_id id : v.running)
        s = std::max(s, std::chrono::duration<double>(requests_.at(id).dispatched - now).count() + service);
    if (v.queued > 0) s += std::ceil(static_cast<double>(v.queued) / v.spec.slots) * service;
    return s;
}

double scheduler::victim_score(const model_rt& v, const model_rt& c, time_point now) const {
    // What evicting `v` for `c` is expected to cost, in requests, as in the
    // swap-worth test: its queue plus its arrivals while it is away. The
    // demand (rate) dominates; the reload cost enters only through the time
    // away. Doubled when busy (it must drain first, delaying c). A small
    // constant keeps idle-vs-busy meaningful for models nobody asked for.
    const bool idle = v.running.empty() && v.queued == 0;
    const double base = 0.001 + v.queued + rate_per_s(v, now) * away_s(c, v);
    return idle ? base : 2 * base;
}

double scheduler::demand_weight(const model_rt& m, time_point now) const {
    const auto now_ms = std::chrono::duration_cast<duration>(now.time_since_epoch()).count();
    const double age_sum_ms = static_cast<double>(m.queued) * static_cast<double>(now_ms) -
                              static_cast<double>(m.arrival_sum_ms);
    return m.queued + age_sum_ms / static_cast<double>(settings_.aging.count());
}

std::optional<time_point> scheduler::swap_worth_at(model_id mi, const std::vector<model_id>& victims,
                                                   time_point now, bool one_more) const {
    // A swap pays when the requests it serves outweigh the requests it hurts.
    // Served: the waiters (each weighing 1 + age / max_wait, so the balance
    // tips before max_wait forces it) and the arrivals expected during the
    // newcomer's minimum residency. Hurt, per victim: its waiters and the
    // arrivals expected until it could be back (the load, the newcomer's
    // residency, its own reload). Counted in requests, from the recent rates.
    const auto& c = models_[mi];
    const duration wait_limit = max_wait(c);
    double hurt = 0;
    for (model_id vi : victims) {
        const auto& v = models_[vi];
        hurt += v.queued + rate_per_s(v, now) * away_s(c, v);
    }
    const auto now_ms = std::chrono::duration_cast<duration>(now.time_since_epoch()).count();
    const double age_sum_ms = static_cast<double>(c.queued) * static_cast<double>(now_ms) -
                              static_cast<double>(c.arrival_sum_ms);
    const int queued = c.queued + (one_more ? 1 : 0);  // one more arriving now adds no age
    const double waiting = queued + age_sum_ms / static_cast<double>(wait_limit.count());
    const double gain = waiting + rate_per_s(c, now) * seconds(min_residency(c));
    if (gain >= hurt) return now;
    if (queued == 0) return std::nullopt;
    // The waiters' weight grows by `queued` per max_wait: when it catches up.
    const double wait_ms = (hurt - gain) / queued * static_cast<double>(wait_limit.count());
    return now + duration{static_cast<long long>(std::ceil(wait_ms))};
}

void scheduler::decide(time_point now) {
    decide_at_.reset();
    std::vector<candidate> cands;
    for (model_id mi = 0; mi < models_.size(); ++mi) {
        auto& m = models_[mi];
        if (!is_load_candidate(m)) continue;
        purge_front(m);
        candidate c;
        c.m = mi;
        c.oldest = requests_.at(m.queue.front().id).arrived;
        c.ticket = m.queue.front().ticket;
        c.forced_at = c.oldest + max_wait(m);
        c.forced = settings_.policy == policy_kind::value && c.forced_at <= now;
        c.score = candidate_score(m, now);
        cands.push_back(c);
    }
    if (cands.empty()) return;
    const auto policy = settings_.policy;
    if (policy == policy_kind::fifo) {
        // llama-swap swaps one model at a time, for the oldest waiting request.
        const bool busy = std::any_of(models_.begin(), models_.end(), [](const model_rt& m) {
            return m.state == model_state::pending || m.state == model_state::loading;
        });
        if (busy) return;
    }
    ++counters_.decisions;
    auto by_age = [](const candidate& a, const candidate& b) {
        return a.oldest != b.oldest ? a.oldest < b.oldest : a.ticket < b.ticket;
    };
    if (policy == policy_kind::value) {
        std::sort(cands.begin(), cands.end(), [&](const candidate& a, const candidate& b) {
            if (a.forced != b.forced) return a.forced;
            if (a.forced) return by_age(a, b);
            if (a.score != b.score) return a.score > b.score;
            return by_age(a, b);
        });
    } else {
        std::sort(cands.begin(), cands.end(), by_age);
        if (policy == policy_kind::fifo) cands.resize(1);
    }

    // Evictions go in rank order: once a candidate could not get room on a
    // device, lower ones may only use room that is free there already.
    std::vector<bool> device_blocked(devices_.size(), false);
    bool global_blocked = false;
    std::optional<time_point> retry;
    auto consider = [&retry](time_point t) {
        if (!retry || t < *retry) retry = t;
    };
    for (const auto& c : cands) {
        const auto d = models_[c.m].device;
        // Forced candidates go first and skip the swap-worth test, but even
        // they wait for their victims' minimum residency: ignoring it is what
        // makes a scheduler thrash once everything waits past max_wait. An
        // optional swap (it must pay, below) does not drain a model that is
        // about to be asked for again, and may take an idle one within its
        // residency that served 2+ requests.
        auto plan = plan_room(c.m, now, false, !device_blocked[d] && !global_blocked,
                              c.forced ? swap_kind::forced : swap_kind::optional);
        std::optional<time_point> worth_at;
        if (plan.ok && policy == policy_kind::value && !c.forced && !plan.victims.empty())
            worth_at = swap_worth_at(c.m, plan.victims, now);
        if (plan.ok && (!worth_at || *worth_at <= now)) {
            commit(c.m, plan, now, c.forced, false, false);
            continue;
        }
        device_blocked[d] = true;
        if (plan.global_short) global_blocked = true;
        if (policy != policy_kind::value) continue;  // the baselines retry on the next event
        if (!c.forced) consider(c.forced_at);
        if (plan.residency_ends) consider(*plan.residency_ends);
        if (worth_at) consider(*worth_at);
    }
    if (retry) decide_at_ = std::max(*retry, now + settings_.window);
}

bool scheduler::fits_without_eviction() const {
    for (model_id m = 0; m < models_.size(); ++m)
        if (is_load_candidate(models_[m]))
            return !others_wait_for_load(m) && plan_room(m, now_, false, false, swap_kind::optional).ok;
    return false;
}

bool scheduler::others_wait_for_load(model_id mi) const {
    // Two waiting models could compete for the same free room.
    for (model_id o = 0; o < models_.size(); ++o)
        if (o != mi && is_load_candidate(models_[o])) return true;
    return false;
}

time_point scheduler::load_start_estimate(model_id mi, time_point now) const {
    const auto& m = models_[mi];
    // The oldest live waiter (or the new request) forces the load at max_wait
    // under the value policy.
    time_point oldest = now;
    for (const auto& e : m.queue) {
        auto it = requests_.find(e.id);
        if (it != requests_.end() && it->second.ticket == e.ticket && !it->second.running) {
            oldest = it->second.arrived;
            break;
        }
    }
    const bool value = settings_.policy == policy_kind::value;
    const time_point forced_at = oldest + max_wait(m);
    const bool forced = value && forced_at <= now;
    auto plan = plan_room(mi, now, false, true, forced ? swap_kind::forced : swap_kind::optional);
    // Decisions are taken at most once per window, except a load into free
    // room that no other model is waiting for (want_decision()).
    const bool at_once = plan.ok && plan.victims.empty() && !others_wait_for_load(mi);
    const time_point earliest = at_once ? now : now + settings_.window;
    if (plan.ok) {
        time_point t = earliest;
        if (value && !forced && !plan.victims.empty()) {
            auto worth = swap_worth_at(mi, plan.victims, now, true);
            t = std::max(t, worth ? std::min(*worth, forced_at) : forced_at);
        }
        // The victims drain first (no new requests; the running ones finish).
        double drain = 0;
        for (model_id vi : plan.victims) drain = std::max(drain, drain_s(models_[vi], now));
        return t + std::chrono::duration_cast<duration>(std::chrono::duration<double>(drain));
    }
    // No room yet: at the earliest when a victim's minimum residency ends; if
    // nothing will ever be eligible by itself (everything pinned or loading),
    // at max_wait under the value policy.
    if (plan.residency_ends) return std::max(earliest, *plan.residency_ends);
    return value ? std::max(earliest, forced_at) : earliest;
}

scheduler::room_plan scheduler::plan_room(model_id mi, time_point now, bool ignore_residency,
                                          bool allow_evict, swap_kind kind) const {
    room_plan plan;
    const auto& t = models_[mi];
    const auto d = t.device;
    const auto& dev = devices_[d];
    long long need_mb = committed_mb(d) + mem(t) - dev.budget_mb;
    int need_dev = committed_count(d) + 1 - dev.max_loaded;
    int need_all = committed_count(std::nullopt) + 1 - settings_.max_loaded_global;
    auto satisfied = [&] { return need_mb <= 0 && need_dev <= 0 && need_all <= 0; };
    if (satisfied()) {
        plan.ok = true;
        return plan;
    }
    auto describe = [&](std::string_view what) {
        std::string s = "no room for '" + t.spec.name + "' on '" + dev.name + "' (";
        if (need_mb > 0)
            s += std::to_string(mem(t)) + " MB needed, " + std::to_string(dev.budget_mb - committed_mb(d)) +
                 " MB free; ";
        if (need_dev > 0) s += "device max_loaded " + std::to_string(dev.max_loaded) + " reached; ";
        if (need_all > 0) s += "max_loaded " + std::to_string(settings_.max_loaded_global) + " reached; ";
        s += what;
        s += ")";
        return s;
    };
    if (!allow_evict) {
        plan.global_short = need_all > 0;
        plan.why = describe("a higher-ranked load waits for room first");
        return plan;
    }

    // Eligible: loaded, unpinned, non-static models past their minimum
    // residency. Yielders: idle models within it that have done what they
    // were loaded for (value policy; 2+ requests served for an optional swap,
    // which creates room early, 1+ to take the place of another victim).
    const bool value = settings_.policy == policy_kind::value;
    const bool optional = value && kind == swap_kind::optional;
    const int yield_after = optional ? 2 : 1;
    std::vector<model_id> eligible, yielders;
    for (model_id vi = 0; vi < models_.size(); ++vi) {
        const auto& v = models_[vi];
        if (vi == mi || v.state != model_state::loaded || is_static(v) || v.spec.pinned) continue;
        const bool useful = v.device == d || need_all > 0;
        if (!useful) continue;
        const bool idle = v.running.empty() && v.queued == 0;
        // An optional swap does not drain a model that may well be asked for
        // again before it has drained (a quarter of a request or more
        // expected): those requests would wait a whole turn. It waits for the
        // model to be idle (or for max_wait).
        if (optional && !idle && rate_per_s(v, now) * drain_s(v, now) >= 0.25) continue;
        const time_point eligible_at = v.loaded_at + min_residency(v);
        if (!ignore_residency && eligible_at > now) {
            if (!plan.residency_ends || eligible_at < *plan.residency_ends) plan.residency_ends = eligible_at;
            if (value && idle && v.served_since_load >= yield_after) yielders.push_back(vi);
            continue;
        }
        eligible.push_back(vi);
    }

    struct selection {
        bool ok = false;
        bool global_short = false;
        std::vector<model_id> victims;
    };
    // Ranks `pool`, takes victims greedily until the room fits, then drops
    // any that a later, larger one made unnecessary.
    auto select = [&](std::vector<model_id> pool) {
        selection out;
        if (settings_.policy == policy_kind::value) {
            // The cheapest to lose first (victim_score: expected requests
            // hurt, doubled when busy): idle models are preferred, but a hot
            // model that is idle for a moment is not thrown out for a cold one
            // that happens to be busy. Then least recently used.
            std::sort(pool.begin(), pool.end(), [&](model_id a, model_id b) {
                const auto &x = models_[a], &y = models_[b];
                const double sx = victim_score(x, t, now), sy = victim_score(y, t, now);
                if (sx != sy) return sx < sy;
                if (x.last_used != y.last_used) return x.last_used < y.last_used;
                return a < b;
            });
        } else {
            std::sort(pool.begin(), pool.end(), [&](model_id a, model_id b) {
                const auto &x = models_[a], &y = models_[b];
                return x.last_used != y.last_used ? x.last_used < y.last_used : a < b;
            });
        }
        long long mb_left = need_mb;
        int dev_left = need_dev, all_left = need_all;
        auto fits = [&] { return mb_left <= 0 && dev_left <= 0 && all_left <= 0; };
        for (model_id vi : pool) {
            if (fits()) break;
            const auto& v = models_[vi];
            const bool here = v.device == d;
            if (!(here && (mb_left > 0 || dev_left > 0)) && all_left <= 0) continue;
            out.victims.push_back(vi);
            if (here) {
                mb_left -= mem(v);
                --dev_left;
            }
            --all_left;
        }
        if (!fits()) {
            out.global_short = all_left > 0;
            out.victims.clear();
            return out;
        }
        // Keep the preferred victims only where they are needed: a later,
        // larger one may have made an earlier one unnecessary.
        for (std::size_t i = 0; i < out.victims.size();) {
            const auto& v = models_[out.victims[i]];
            const bool here = v.device == d;
            const long long mb = here ? mb_left + mem(v) : mb_left;
            const int dv = here ? dev_left + 1 : dev_left;
            if (mb <= 0 && dv <= 0 && all_left + 1 <= 0) {
                mb_left = mb;
                dev_left = dv;
                ++all_left;
                out.victims.erase(out.victims.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
        out.ok = true;
        return out;
    };

    auto sel = select(eligible);
    if (!yielders.empty() && (sel.ok || optional)) {
        // Residency decides whether room can be made now (unless the swap is
        // optional: then it has to pay); among the models that could leave,
        // the idle ones within their residency compete on their score.
        eligible.insert(eligible.end(), yielders.begin(), yielders.end());
        sel = select(std::move(eligible));
    }
    if (!sel.ok) {
        plan.global_short = sel.global_short;
        plan.why = describe("the other models are pinned, busy loading or within their minimum residency");
        return plan;
    }
    plan.victims = std::move(sel.victims);
    plan.ok = true;
    return plan;
}

void scheduler::commit(model_id mi, const room_plan& plan, time_point now, bool forced, bool admin_hold,
                       bool admin_reason) {
    auto& t = models_[mi];
    t.state = model_state::pending;
    t.admin_hold = admin_hold;
    t.reservation = next_reservation_++;
    t.outstanding_victims = static_cast<int>(plan.victims.size());
    if (!plan.victims.empty()) ++counters_.swaps;
    for (model_id vi : plan.victims) evict(vi, now, admin_reason ? "admin" : forced ? "max_wait" : "make_room", mi);
    start_pending(now);
}

void scheduler::evict(model_id vi, time_point now, std::string reason, std::optional<model_id> target) {
    auto& v = models_[vi];
    ++counters_.evictions[reason];
    v.eviction_reason = std::move(reason);
    v.victim_for = target.value_or(0);
    v.victim_for_reservation = target ? models_[*target].reservation : 0;
    if (v.running.empty()) {
        emit_unload(vi, now);
    } else {
        v.state = model_state::draining;  // from now on it admits nothing new
        v.drain_deadline = now + settings_.drain_timeout;
    }
}

void scheduler::victim_gone(model_id vi) {
    auto& v = models_[vi];
    if (v.victim_for_reservation != 0) {
        auto& t = models_[v.victim_for];
        if (t.state == model_state::pending && t.reservation == v.victim_for_reservation &&
            t.outstanding_victims > 0)
            --t.outstanding_victims;
    }
    v.victim_for_reservation = 0;
}

void scheduler::start_pending(time_point now) {
    // Oldest reservation first; each starts once its own victims are gone and
    // the device physically has the room (other victims may still be draining).
    for (;;) {
        std::optional<model_id> next;
        for (model_id mi = 0; mi < models_.size(); ++mi) {
            const auto& m = models_[mi];
            if (m.state != model_state::pending || m.outstanding_victims > 0) continue;
            const auto& dev = devices_[m.device];
            if (resident_mb(m.device) + mem(m) > dev.budget_mb) continue;
            if (physical_count(m.device) + 1 > dev.max_loaded) continue;
            if (physical_count(std::nullopt) + 1 > settings_.max_loaded_global) continue;
            if (!next || m.reservation < models_[*next].reservation) next = mi;
        }
        if (!next) return;
        emit_load(*next, now);
    }
}

void scheduler::drop_reservation(model_id mi) {
    auto& t = models_[mi];
    const auto res = t.reservation;
    t.state = t.asleep ? model_state::sleeping : model_state::unloaded;
    t.admin_hold = false;
    t.reservation = 0;
    t.outstanding_victims = 0;
    ++counters_.reservations_dropped;
    // Victims still draining were never unloaded: they go back to serving if
    // the room they held is still free. Those already unloading carry on.
    for (model_id vi = 0; vi < models_.size(); ++vi) {
        auto& v = models_[vi];
        if (v.victim_for_reservation != res || v.victim_for != mi) continue;
        v.victim_for_reservation = 0;
        if (v.state != model_state::draining) continue;
        const auto& dev = devices_[v.device];
        if (committed_mb(v.device) + mem(v) > dev.budget_mb || committed_count(v.device) + 1 > dev.max_loaded ||
            committed_count(std::nullopt) + 1 > settings_.max_loaded_global)
            continue;
        v.state = model_state::loaded;
        v.eviction_reason.clear();
        dispatch_queued(vi, now_);
    }
}

void scheduler::restore_budget(model_id loaded, time_point now) {
    // The model turned out larger than estimated. The memory is in use
    // already; make the accounting true again by evicting others (ignoring
    // residency), and as a last resort the model itself.
    auto& m = models_[loaded];
    const auto d = m.device;
    const auto budget = devices_[d].budget_mb;
    while (committed_mb(d) > budget) {
        std::optional<model_id> pick;
        for (model_id vi = 0; vi < models_.size(); ++vi) {
            const auto& v = models_[vi];
            if (vi == loaded || v.device != d || v.state != model_state::loaded || is_static(v) || v.spec.pinned)
                continue;
            if (!pick || victim_score(v, m, now) < victim_score(models_[*pick], m, now)) pick = vi;
        }
        if (!pick) break;
        evict(*pick, now, "over_budget", std::nullopt);
    }
    if (committed_mb(d) > budget && !m.spec.pinned) evict(loaded, now, "over_budget", std::nullopt);
}

}  // namespace swapgate::routing
