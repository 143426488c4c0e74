// Discrete-event simulation: one priority queue of world events (arrivals,
// request completions, load and unload completions), interleaved with the
// scheduler's own wakeups. Ties are broken by insertion order, so a run is a
// pure function of its inputs.
#include "routing/scheduler_sim.hpp"

#include <algorithm>
#include <cmath>
#include <queue>
#include <sstream>

namespace swapgate::routing {

using namespace std::chrono_literals;

namespace {

struct world_event {
    enum kind_t { arrive, finish, load_done, unload_done };
    time_point t;
    std::uint64_t seq = 0;
    kind_t kind = arrive;
    std::size_t index = 0;  // trace index (arrive, finish) or model id
    bool operator>(const world_event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

// splitmix64: portable and deterministic, unlike the std distributions.
struct rng {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

duration percentile(std::vector<duration> sorted, double p) {
    if (sorted.empty()) return 0ms;
    auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size()))) - 1;
    return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

sim_report simulate(const scheduler_settings& settings, const std::vector<device_spec>& devices,
                    const std::vector<sim_model>& models, const std::vector<sim_request>& trace,
                    const sim_observer& observe) {
    sim_report rep;
    rep.requests = trace.size();
    rep.waits.assign(trace.size(), std::nullopt);
    std::vector<model_spec> specs;
    for (const auto& m : models) specs.push_back(m.spec);
    auto built = scheduler::create(settings, devices, specs);
    if (!built.value) {
        rep.errors = built.errors;
        return rep;
    }
    scheduler& s = *built.value;

    const time_point t0 = time_point{} + std::chrono::hours(1);
    std::priority_queue<world_event, std::vector<world_event>, std::greater<>> events;
    std::uint64_t seq = 0;
    auto push = [&](time_point t, world_event::kind_t k, std::size_t i) { events.push({t, seq++, k, i}); };
    for (std::size_t i = 0; i < trace.size(); ++i) push(t0 + trace[i].at, world_event::arrive, i);

    std::vector<int> served_since_load(models.size(), 0);
    std::vector<bool> was_loaded(models.size(), false);
    std::vector<bool> gone(trace.size(), false);  // failed: its finish event is moot
    time_point last_finish = t0, first_arrival = time_point::max();
    for (const auto& r : trace) first_arrival = std::min(first_arrival, t0 + r.at);

    auto handle = [&](time_point now) {
        for (const auto& a : s.take_actions()) {
            if (observe) observe(std::chrono::duration_cast<duration>(now - t0), a);
            switch (a.kind) {
                case action::dispatch:
                    rep.waits[a.req] = std::chrono::duration_cast<duration>(now - (t0 + trace[a.req].at));
                    ++served_since_load[a.model];
                    push(now + trace[a.req].service, world_event::finish, a.req);
                    break;
                case action::reject: ++rep.rejected; break;
                case action::fail_request:
                    ++rep.failed;
                    gone[a.req] = true;
                    rep.waits[a.req].reset();
                    break;
                case action::load:
                    ++rep.loads;
                    served_since_load[a.model] = 0;
                    was_loaded[a.model] = true;
                    push(now + (a.wake ? models[a.model].wake_load : models[a.model].cold_load),
                         world_event::load_done, a.model);
                    break;
                case action::unload:
                    if (was_loaded[a.model] && served_since_load[a.model] < 2) ++rep.short_loads;
                    was_loaded[a.model] = false;
                    push(now + models[a.model].unload, world_event::unload_done, a.model);
                    break;
            }
        }
    };

    time_point now = t0;
    s.start(now);
    handle(now);
    std::uint64_t steps = 0;
    const std::uint64_t max_steps = 50 * (trace.size() + 1000);
    while (++steps < max_steps) {
        auto wake = s.next_wakeup();
        if (events.empty() && !wake) break;
        if (wake && (events.empty() || *wake < events.top().t)) {
            now = std::max(now, *wake);
            s.tick(now);
            handle(now);
            continue;
        }
        auto e = events.top();
        events.pop();
        now = e.t;
        switch (e.kind) {
            case world_event::arrive: s.request_arrived(now, e.index, trace[e.index].model); break;
            case world_event::finish:
                if (gone[e.index]) continue;
                s.request_finished(now, e.index);
                last_finish = std::max(last_finish, now);
                break;
            case world_event::load_done:
                s.load_finished(now, e.index, models[e.index].spec.memory_mb);
                break;
            case world_event::unload_done: s.unload_finished(now, e.index); break;
        }
        handle(now);
    }
    if (steps >= max_steps) rep.errors.push_back("simulation did not finish");
    for (std::size_t m = 0; m < models.size(); ++m)
        if (was_loaded[m] && served_since_load[m] < 2) ++rep.short_loads;

    std::vector<duration> waits;
    for (const auto& w : rep.waits)
        if (w) waits.push_back(*w);
    rep.served = waits.size();
    std::sort(waits.begin(), waits.end());
    if (!waits.empty()) {
        duration sum{0};
        for (auto w : waits) sum += w;
        rep.mean_wait = sum / static_cast<long long>(waits.size());
        rep.max_wait = waits.back();
    }
    rep.p50_wait = percentile(waits, 0.50);
    rep.p95_wait = percentile(waits, 0.95);
    if (first_arrival != time_point::max())
        rep.makespan = std::chrono::duration_cast<duration>(last_finish - first_arrival);
    rep.counters = s.counters();
    rep.swaps = rep.counters.swaps;
    return rep;
}

std::string summary(const sim_report& r) {
    auto sec = [](duration d) {
        std::ostringstream o;
        o.setf(std::ios::fixed);
        o.precision(2);
        o << std::chrono::duration<double>(d).count() << "s";
        return o.str();
    };
    std::ostringstream o;
    o << "loads=" << r.loads << " swaps=" << r.swaps << " short_loads=" << r.short_loads
      << " served=" << r.served << "/" << r.requests << " rejected=" << r.rejected << " failed=" << r.failed
      << " wait mean=" << sec(r.mean_wait) << " p50=" << sec(r.p50_wait) << " p95=" << sec(r.p95_wait)
      << " max=" << sec(r.max_wait) << " makespan=" << sec(r.makespan);
    return o.str();
}

std::vector<sim_request> zipf_burst_trace(std::uint64_t seed, std::size_t model_count, double zipf_s,
                                          double rate_per_s, duration burst_every, int burst_size,
                                          duration length, duration service_min, duration service_max) {
    rng g{seed};
    std::vector<double> cdf(model_count);
    double total = 0;
    for (std::size_t k = 0; k < model_count; ++k) total += 1.0 / std::pow(static_cast<double>(k + 1), zipf_s);
    double acc = 0;
    for (std::size_t k = 0; k < model_count; ++k) {
        acc += 1.0 / std::pow(static_cast<double>(k + 1), zipf_s) / total;
        cdf[k] = acc;
    }
    auto pick = [&] {
        const double u = g.uniform();
        auto it = std::lower_bound(cdf.begin(), cdf.end(), u);
        return static_cast<model_id>(std::min<std::ptrdiff_t>(it - cdf.begin(), static_cast<std::ptrdiff_t>(model_count) - 1));
    };
    auto service = [&] {
        const auto span = (service_max - service_min).count();
        return service_min + duration{static_cast<long long>(g.uniform() * static_cast<double>(span))};
    };
    std::vector<sim_request> out;
    if (rate_per_s > 0) {
        double t = 0;
        for (;;) {
            t += -std::log(1.0 - g.uniform()) / rate_per_s * 1000.0;
            if (t >= static_cast<double>(length.count())) break;
            out.push_back({duration{static_cast<long long>(t)}, pick(), service()});
        }
    }
    if (burst_every > 0ms)
        for (duration b = burst_every; b < length; b += burst_every) {
            const model_id m = pick();
            for (int i = 0; i < burst_size; ++i)
                out.push_back({b + duration{static_cast<long long>(g.uniform() * 500)}, m, service()});
        }
    std::stable_sort(out.begin(), out.end(), [](const sim_request& a, const sim_request& b) { return a.at < b.at; });
    return out;
}

std::vector<sim_request> agent_trace(const std::string& pattern, int repeats, int agents, duration think,
                                     duration service) {
    std::vector<model_id> seq;
    for (char c : pattern)
        if (c >= 'A' && c <= 'Z') seq.push_back(static_cast<model_id>(c - 'A'));
    std::vector<sim_request> out;
    for (int a = 0; a < agents; ++a) {
        duration t = think * a / std::max(1, agents);
        for (int r = 0; r < repeats; ++r)
            for (model_id m : seq) {
                out.push_back({t, m, service});
                t += think;
            }
    }
    std::stable_sort(out.begin(), out.end(), [](const sim_request& a, const sim_request& b) { return a.at < b.at; });
    return out;
}

}  // namespace swapgate::routing
