// Plain value types of the swap scheduler: clock aliases, the inputs (devices,
// models, settings), the actions it emits and the figures it reports. No
// behaviour here beyond naming; the state machine is in scheduler.hpp and the
// rules are written down in routing/SCHEDULER.md.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace swapgate::routing {

// The scheduler never reads a clock: every event carries `now`. The proxy
// passes steady_clock::now(); tests and the simulation pass a fake time.
using sched_clock = std::chrono::steady_clock;
using time_point = sched_clock::time_point;
using duration = std::chrono::milliseconds;

using request_id = std::uint64_t;  // chosen by the caller, unique among live requests
using model_id = std::size_t;      // index into the model_spec vector given to create()

// `value` is ours (demand x age / reload cost, minimum residency, idle victims);
// `fifo` (llama-swap) and `lru` (Ollama) are baselines for the benchmark.
enum class policy_kind { value, fifo, lru };

// How a model server is brought up and down; the scheduler only needs the cost
// shape. process/ollama: cold load, unload frees everything. vllm_sleep: unload
// is sleep level 1 (device memory freed, host RAM kept), the next load is a
// wake. static_server: always running, never loaded or unloaded by us.
enum class lifecycle { process, ollama, vllm_sleep, static_server };

// unloaded -> pending (chosen, waiting for its victims' unloads) -> loading ->
// loaded -> draining (no new requests, running ones finish) -> unloading ->
// unloaded | sleeping (vllm_sleep). failed: the last load failed; new requests
// are rejected until the backoff passes. See SCHEDULER.md for the diagram.
enum class model_state { unloaded, pending, loading, loaded, draining, unloading, sleeping, failed };

std::string_view to_string(policy_kind p);
std::string_view to_string(lifecycle k);
std::string_view to_string(model_state s);

// A memory pool: one GPU (budget in MB of VRAM) or "cpu" (RAM in MB).
struct device_spec {
    std::string name;
    long long budget_mb = 0;
    int max_loaded = 2;  // models loading/loaded/draining/unloading at once (static ones excluded)
};

// One model the scheduler manages. Durations of 0 mean "off" where noted.
struct model_spec {
    std::string name;
    std::string device = "gpu0";
    lifecycle kind = lifecycle::process;
    long long memory_mb = 0;  // declared or estimated; the figure observed after a load replaces it
    bool pinned = false;      // never evicted (nor ttl-unloaded) once loaded
    bool preload = false;     // loaded by start()
    int slots = 4;            // requests it serves in parallel
    duration ttl{std::chrono::seconds(300)};  // idle time before unload; 0 = never
    int max_queue = 64;                       // waiting requests beyond this: 429
    duration queue_timeout{std::chrono::seconds(120)};  // a wait longer than this: 503
    std::optional<duration> min_residency;    // default max(5 s, its reload cost)
    duration initial_load_cost{std::chrono::seconds(10)};  // prior for a cold load until measured
    std::optional<duration> initial_wake_cost;  // prior for a wake; default max(1 s, cold / 5)
};

struct scheduler_settings {
    policy_kind policy = policy_kind::value;
    // Swap decisions happen at most once per window (value policy). The
    // baselines decide at once, as the tools they imitate do.
    duration window{100};
    // A request older than this puts its model first in line and skips the
    // swap-worth test (victims still keep their minimum residency); default
    // per model max(10 s, 2 x its reload cost). Value policy only.
    std::optional<duration> max_wait;
    // A victim's running requests get this long to finish; then they are
    // failed (fail_request, reason "drain_timeout") and the unload goes ahead.
    duration drain_timeout{std::chrono::seconds(60)};
    int max_loaded_global = 2;
    // A waiting request weighs 1 + age / aging in the value score.
    duration aging{std::chrono::seconds(1)};
    // Half-life of the per-model recent request rate used to rank victims.
    duration rate_half_life{std::chrono::seconds(60)};
    // Weight of a new measurement in the learned load costs (first one replaces the prior).
    double cost_smoothing = 0.3;
    // After a failed load: new requests are rejected for backoff_initial,
    // doubled after each further consecutive failure, at most backoff_max.
    duration backoff_initial{std::chrono::seconds(2)};
    duration backoff_max{std::chrono::seconds(60)};
};

// What the caller must do. Every request ends with exactly one of: reject
// (never ran), or dispatch followed by the caller's request_finished /
// request_cancelled, or dispatch followed by fail_request (crash, drain
// timeout). A request the caller cancels while queued gets no action.
struct action {
    enum kind_t {
        dispatch,      // send `req` to `model` now; its slot is taken until finished/cancelled
        reject,        // answer `req` with `status` (429/503/400) and Retry-After `retry_after`
        load,          // start `model` (wake it if `wake`); report load_finished/load_failed
        unload,        // stop `model` (sleep level `sleep_level` if > 0); report unload_finished
        fail_request,  // abort running `req`: its model crashed or was drained past the timeout
    };
    kind_t kind = dispatch;
    request_id req = 0;
    model_id model = 0;
    int status = 0;
    duration retry_after{0};
    std::string reason;  // reject/fail: text for the client; unload: make_room, max_wait, ttl, admin, over_budget
    bool wake = false;
    int sleep_level = 0;
};

std::string to_string(const action& a);

// Monotonic counts since creation, for metrics and the benchmark.
struct scheduler_counters {
    std::uint64_t decisions = 0;    // swap decisions taken (window closes)
    std::uint64_t loads = 0;        // load actions (wakes included)
    std::uint64_t wakes = 0;        // of which wakes from sleep
    std::uint64_t unloads = 0;      // unload actions (sleeps included)
    std::uint64_t swaps = 0;        // loads that needed at least one eviction
    std::uint64_t dispatches = 0;
    std::uint64_t rejected_429 = 0;
    std::uint64_t rejected_503 = 0;
    std::uint64_t rejected_other = 0;
    std::uint64_t failed_requests = 0;
    std::uint64_t load_failures = 0;
    std::uint64_t crashes = 0;
    std::uint64_t cancelled_queued = 0;
    std::uint64_t cancelled_running = 0;
    std::uint64_t reservations_dropped = 0;  // pending loads nobody waited for any more
    std::uint64_t drain_timeouts = 0;
    std::uint64_t ignored_events = 0;        // events that did not fit the state (late, duplicate)
    std::map<std::string, std::uint64_t> evictions;  // by reason: make_room, max_wait, ttl, admin, crash, over_budget
};

}  // namespace swapgate::routing
