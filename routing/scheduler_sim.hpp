// A deterministic, single-threaded simulation of the scheduler against a
// simulated world (model servers that take a fixed time to load, wake and
// unload; requests that take their service time). Used by the tests to compare
// policies and by the benchmark to replay traces without a GPU.
#pragma once
#include "routing/scheduler.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace swapgate::routing {

// One model of the simulated world: its spec for the scheduler (whose
// initial_load_cost is the scheduler's prior, not the truth) and the true times.
struct sim_model {
    model_spec spec;
    duration cold_load{std::chrono::seconds(10)};
    duration wake_load{std::chrono::seconds(2)};
    duration unload{std::chrono::milliseconds(500)};
};

// One request of a trace: when it arrives (from the start), for which model,
// and how long it runs once dispatched.
struct sim_request {
    duration at{0};
    model_id model = 0;
    duration service{std::chrono::seconds(1)};
};

struct sim_report {
    std::uint64_t requests = 0;
    std::uint64_t served = 0;  // dispatched (and finished)
    std::uint64_t rejected = 0;
    std::uint64_t failed = 0;
    std::uint64_t loads = 0;        // wakes included
    std::uint64_t swaps = 0;        // loads that evicted something
    std::uint64_t short_loads = 0;  // loads whose residency served fewer than 2 requests
    duration mean_wait{0};          // arrival -> dispatch, over served requests
    duration p50_wait{0};
    duration p95_wait{0};
    duration max_wait{0};
    duration makespan{0};           // first arrival -> last request finished
    std::vector<std::optional<duration>> waits;  // per trace entry; nullopt when not served
    scheduler_counters counters;
    std::vector<std::string> errors;  // create() errors, or a simulation that did not finish
};

// Called for every action with the simulated time since the start (logs, plots).
using sim_observer = std::function<void(duration since_start, const action& a)>;

// Runs the whole trace (sorted or not) to completion; deterministic.
sim_report simulate(const scheduler_settings& settings, const std::vector<device_spec>& devices,
                    const std::vector<sim_model>& models, const std::vector<sim_request>& trace,
                    const sim_observer& observe = {});

// One line: "loads=.. swaps=.. short=.. wait mean/p50/p95/max=.. rejected=..".
std::string summary(const sim_report& r);

// ---- trace generators (deterministic for a given seed) ----------------------

// Zipf(s) popularity over `model_count` models (model 0 most popular): a
// Poisson background of `rate_per_s`, plus every `burst_every` a burst of
// `burst_size` requests within 500 ms, all for one Zipf-drawn model.
std::vector<sim_request> zipf_burst_trace(std::uint64_t seed, std::size_t model_count, double zipf_s,
                                          double rate_per_s, duration burst_every, int burst_size,
                                          duration length, duration service_min, duration service_max);

// Agents replaying `pattern` (a string of letters, 'A' = model 0, spaces
// ignored) `repeats` times: each agent sends its next request `think` after
// the previous one arrived; agents start `think / agents` apart.
std::vector<sim_request> agent_trace(const std::string& pattern, int repeats, int agents, duration think,
                                     duration service);

}  // namespace swapgate::routing
