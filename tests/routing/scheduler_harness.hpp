// Test rig for the scheduler: a fake clock you move by hand, short builders
// for devices and models, and helpers to look for actions.
#pragma once
#include "routing/scheduler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace swapgate::routing::test {

using namespace std::chrono_literals;

inline model_spec make_model(std::string name, long long mb, lifecycle kind = lifecycle::process,
                             std::string device = "gpu0") {
    model_spec m;
    m.name = std::move(name);
    m.memory_mb = mb;
    m.kind = kind;
    m.device = std::move(device);
    m.initial_load_cost = 4s;
    return m;
}

inline device_spec gpu(long long mb, int max_loaded = 2, std::string name = "gpu0") {
    return device_spec{std::move(name), mb, max_loaded};
}

// Owns a scheduler and the time; every helper advances nothing unless told.
class rig {
public:
    rig(scheduler_settings settings, std::vector<device_spec> devices, std::vector<model_spec> models)
        : s_(build(std::move(settings), std::move(devices), std::move(models))) {}

    scheduler& s() { return s_; }
    time_point now() const { return now_; }
    void advance(sched_clock::duration d) { now_ += d; }

    // Event helpers: each returns the actions the event produced.
    std::vector<action> start() { s_.start(now_); return s_.take_actions(); }
    std::vector<action> arrive(request_id r, model_id m) { s_.request_arrived(now_, r, m); return s_.take_actions(); }
    std::vector<action> finish(request_id r) { s_.request_finished(now_, r); return s_.take_actions(); }
    std::vector<action> cancel(request_id r) { s_.request_cancelled(now_, r); return s_.take_actions(); }
    std::vector<action> loaded(model_id m, std::optional<long long> mb = std::nullopt) {
        s_.load_finished(now_, m, mb);
        return s_.take_actions();
    }
    std::vector<action> load_failed(model_id m, std::string why = "boom") {
        s_.load_failed(now_, m, std::move(why));
        return s_.take_actions();
    }
    std::vector<action> unloaded(model_id m) { s_.unload_finished(now_, m); return s_.take_actions(); }
    std::vector<action> crashed(model_id m, std::string why = "segfault") {
        s_.model_crashed(now_, m, std::move(why));
        return s_.take_actions();
    }
    std::vector<action> tick() { s_.tick(now_); return s_.take_actions(); }
    // Moves the clock by `d` and ticks.
    std::vector<action> after(sched_clock::duration d) { advance(d); return tick(); }
    // Ticks at each wakeup up to now + d (as a driver would), collecting actions.
    std::vector<action> run_for(sched_clock::duration d) {
        const time_point end = now_ + d;
        std::vector<action> all;
        for (;;) {
            auto w = s_.next_wakeup();
            if (!w || *w > end) break;
            now_ = std::max(now_, *w);
            for (auto& a : tick()) all.push_back(std::move(a));
        }
        now_ = end;
        for (auto& a : tick()) all.push_back(std::move(a));
        return all;
    }
    // A request for a non-resident model and the decision it leads to: the
    // load starts at once when it fits in free room, else when the decision
    // window (or whatever holds the load) has passed, up to `d` later.
    std::vector<action> arrive_decided(request_id r, model_id m, sched_clock::duration d = std::chrono::milliseconds(100)) {
        auto acts = arrive(r, m);
        const bool started = std::any_of(acts.begin(), acts.end(), [m](const action& a) {
            return a.kind == action::load && a.model == m;
        });
        if (!started)
            for (auto& a : run_for(d)) acts.push_back(std::move(a));
        return acts;
    }
    model_state state(model_id m) const { return s_.view(m).state; }

private:
    static scheduler build(scheduler_settings st, std::vector<device_spec> d, std::vector<model_spec> m) {
        auto b = scheduler::create(std::move(st), std::move(d), std::move(m));
        if (!b.value) {
            std::string all;
            for (auto& e : b.errors) all += e + "\n";
            ADD_FAILURE() << all;
            std::abort();
        }
        return std::move(*b.value);
    }
    scheduler s_;
    time_point now_ = time_point{} + std::chrono::hours(1);
};

inline int count(const std::vector<action>& as, action::kind_t k) {
    return static_cast<int>(std::count_if(as.begin(), as.end(), [k](const action& a) { return a.kind == k; }));
}
inline const action* find(const std::vector<action>& as, action::kind_t k, std::optional<model_id> m = {},
                          std::optional<request_id> r = {}) {
    for (const auto& a : as)
        if (a.kind == k && (!m || a.model == *m) && (!r || a.req == *r)) return &a;
    return nullptr;
}
inline bool dispatched(const std::vector<action>& as, request_id r) { return find(as, action::dispatch, {}, r); }
inline bool loads(const std::vector<action>& as, model_id m) { return find(as, action::load, m); }
inline bool unloads(const std::vector<action>& as, model_id m) { return find(as, action::unload, m); }
inline std::string dump(const std::vector<action>& as) {
    std::string s;
    for (const auto& a : as) s += to_string(a) + "\n";
    return s;
}

}  // namespace swapgate::routing::test
