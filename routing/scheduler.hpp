// The swap scheduler: which models are resident on which device, which request
// runs now and which waits, which model loads next and which ones make room.
//
// A pure state machine: no sockets, no threads, no clock. The caller feeds
// events (each with the current time), then drains take_actions() and carries
// them out; it calls tick() no later than next_wakeup(). The same code runs in
// the proxy, in the tests and in the simulation (scheduler_sim.hpp). Not
// thread-safe: the proxy owns one instance on one strand.
//
// Rules in short (SCHEDULER.md has them in full, with the formulas):
//  - A request for a loaded model with a free slot is dispatched within the
//    same event, whatever else is loading or unloading.
//  - Otherwise it queues on its model. Swap decisions happen at most once per
//    window; a model is loaded at most once at a time (single flight). A swap
//    that evicts something must pay (the requests it serves outweigh those it
//    hurts) unless a waiter is past max_wait; victims keep min residency,
//    except idle ones that served what they were loaded for (early exit), and
//    a swap that must pay does not drain a model about to be asked for again.
//  - Memory: the models loading/loaded/draining/unloading on a device never
//    exceed its budget, and max_loaded is never exceeded: a load action is
//    emitted only after its victims' unload_finished.
//  - A victim admits nothing new from the moment it is chosen ("draining");
//    it unloads when its running requests end, or at drain_timeout (they are
//    failed then).
//
// Event timing: every event first settles itself (a request that finished,
// or arrived for a resident model with a free slot, at the instant a timeout
// or a decision falls due is handled as the caller saw it), then does
// whatever was due by `now` (timeouts, ttl, a closed window) exactly as
// tick(now) would. Times that go backwards are read as the latest time seen.
#pragma once
#include "routing/scheduler_state.hpp"
#include "routing/scheduler_types.hpp"

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace swapgate::routing {

struct scheduler_build;

class scheduler {
public:
    // Validates the inputs (unknown device, duplicate names, a model larger
    // than its device, pinned/static models that leave no room, ...). Static
    // models are resident from the start.
    static scheduler_build create(scheduler_settings settings, std::vector<device_spec> devices,
                                  std::vector<model_spec> models);

    scheduler(const scheduler&) = delete;
    scheduler& operator=(const scheduler&) = delete;
    scheduler(scheduler&&) = default;
    scheduler& operator=(scheduler&&) = default;

    // ---- events ----------------------------------------------------------
    // Loads the `preload` models (pinned ones first) as far as they fit.
    void start(time_point now);
    // A new request for `model`. Emits dispatch (resident, free slot, nobody
    // queued before it), reject (queue full: 429; model in load backoff: 503;
    // unknown model: 400), or nothing (queued; the model loads after a window).
    // A duplicate id of a live request is ignored.
    void request_arrived(time_point now, request_id req, model_id model);
    // A dispatched request completed (any outcome): its slot is free.
    void request_finished(time_point now, request_id req);
    // The client left. Queued: it leaves the queue at once, no action is
    // emitted, and a pending load nobody waits for any more is called off.
    // Running: the caller aborts the upstream call; the slot is freed as by
    // request_finished. Unknown or already ended ids are ignored.
    void request_cancelled(time_point now, request_id req);
    // The load action for `model` completed. `observed_mb` (if known) replaces
    // the memory estimate for every later decision. Queued requests dispatch.
    void load_finished(time_point now, model_id model, std::optional<long long> observed_mb);
    // The load failed and the server holds no memory any more. Its queued
    // requests are rejected (503, with the reason); new ones too until the
    // backoff passes; after that a request loads it again.
    void load_failed(time_point now, model_id model, std::string why);
    // The unload action completed; its memory is free (for vllm_sleep: the
    // device memory; the model is now sleeping).
    void unload_finished(time_point now, model_id model);
    // The server of a loaded model died: its running requests are failed
    // (fail_request), it becomes unloaded and loads again on demand (no
    // backoff). While loading this counts as load_failed; while unloading as
    // a finished (cold) unload. A static model stays resident.
    void model_crashed(time_point now, model_id model, std::string why);
    // Timeouts (queue, drain), ttl unloads and swap decisions that are due.
    void tick(time_point now);

    // ---- admin -----------------------------------------------------------
    // Load now, evicting as needed (respecting minimum residency unless
    // `force`, which also skips a failure backoff). "" when started or already
    // there, else why not. The load does not depend on anyone waiting.
    std::string request_load(time_point now, model_id model, bool force);
    // Drain and unload. "" when done or under way; refused for pinned and
    // static models, a loading model, or a pending one with waiters.
    std::string request_unload(time_point now, model_id model);
    // Unloads every loaded model that is idle (nothing running or queued) and not pinned.
    void unload_idle(time_point now);

    struct can_load_answer {
        bool fits_now = false;              // loads without evicting anything
        std::vector<model_id> would_evict;  // what request_load(now, m, false) would evict
        std::string why_not;                // "" when it can load now
    };
    can_load_answer can_load(time_point now, model_id model) const;

    // ---- outputs ---------------------------------------------------------
    // Actions in the order they were decided; the caller must carry out each.
    std::vector<action> take_actions();
    // When tick() must run next; nullopt when nothing is timed.
    std::optional<time_point> next_wakeup() const;

    // ---- introspection ---------------------------------------------------
    struct model_view {
        std::string_view name;
        std::string_view device;
        lifecycle kind = lifecycle::process;
        model_state state = model_state::unloaded;
        bool pinned = false;
        long long memory_estimated_mb = 0;  // the declared figure
        long long memory_observed_mb = -1;  // after a load; -1 if none
        long long memory_mb = 0;            // the figure decisions use
        int in_flight = 0;
        int queued = 0;
        int slots = 0;
        time_point last_used{};
        time_point loaded_at{};
        int load_count = 0;
        int wake_count = 0;
        duration mean_load_time{0};   // over all measured loads and wakes
        duration cold_cost{0};        // learned (or prior) cost of a cold load
        duration wake_cost{0};        // learned (or prior) cost of a wake
        duration reload_cost{0};      // what loading it now would cost
        duration min_residency{0};    // effective value
        duration max_wait{0};         // effective value
        double recent_rate_per_min = 0;
        int consecutive_failures = 0;
        time_point retry_at{};        // failed: new requests rejected until then
        std::string_view last_error;
        std::string_view eviction_reason;  // draining/unloading: why
    };
    std::size_t model_count() const { return models_.size(); }
    model_view view(model_id model) const;
    // Rough expected time until a new request for `model` would be dispatched:
    // 0 when a slot is free now; else load/drain/queue estimates from learned costs.
    duration estimated_wait(model_id model, time_point now) const;
    const scheduler_counters& counters() const { return counters_; }
    const scheduler_settings& settings() const { return settings_; }
    const std::vector<device_spec>& devices() const { return devices_; }
    // Memory the scheduler counts on a device now (loading/loaded/draining/unloading + static).
    long long resident_mb(std::size_t device) const;

private:
    scheduler() = default;

    // What a load that needs room is (SCHEDULER.md, "Victims"): an admin
    // load; a swap for a candidate past max_wait; or an optional swap (value
    // policy, it must pass the swap-worth test). It decides which models may
    // make room: an optional swap does not drain a busy model that is likely
    // to be asked for again before it has drained, and may take an idle one
    // within its minimum residency that served 2+ requests since its load;
    // the others may take such a model (1+ served) only in place of one past
    // its residency that would have to leave otherwise.
    enum class swap_kind { admin, forced, optional };

    // A way to make room for one load (scheduler_pick.cpp).
    struct room_plan {
        bool ok = false;
        std::vector<model_id> victims;
        std::string why;
        bool global_short = false;                    // the global count was the binding limit
        std::optional<time_point> residency_ends;     // earliest victim becoming eligible
    };

    time_point enter(time_point now);
    void leave(time_point now);
    void run_due(time_point now);
    void want_decision(time_point now);
    // A model with waiters that is not resident (unloaded or sleeping).
    static bool is_load_candidate(const detail::model_rt& m);
    bool has_candidates() const;
    // Exactly one model waits for a load and it fits in free room (no victims).
    bool fits_without_eviction() const;
    bool others_wait_for_load(model_id mi) const;

    // scheduler_pick.cpp
    void decide(time_point now);
    room_plan plan_room(model_id m, time_point now, bool ignore_residency, bool allow_evict, swap_kind kind) const;
    void commit(model_id m, const room_plan& plan, time_point now, bool forced, bool admin_hold,
                bool admin_reason);
    void evict(model_id v, time_point now, std::string reason, std::optional<model_id> target);
    void victim_gone(model_id v);
    void start_pending(time_point now);
    void drop_reservation(model_id m);
    void restore_budget(model_id loaded, time_point now);
    double candidate_score(const detail::model_rt& m, time_point now) const;
    double demand_weight(const detail::model_rt& m, time_point now) const;
    // With `one_more`, as if another request for `m` had just arrived (estimates).
    std::optional<time_point> swap_worth_at(model_id m, const std::vector<model_id>& victims, time_point now,
                                            bool one_more = false) const;
    // When a load of the non-resident model `m` could start, by the rules
    // decide() applies (room, minimum residency, the swap-worth test,
    // max_wait), for a request arriving now. For estimated_wait().
    time_point load_start_estimate(model_id m, time_point now) const;
    double away_s(const detail::model_rt& newcomer, const detail::model_rt& victim) const;
    double drain_s(const detail::model_rt& victim, time_point now) const;
    double victim_score(const detail::model_rt& victim, const detail::model_rt& newcomer, time_point now) const;

    // scheduler.cpp
    void emit(action a);
    void emit_load(model_id m, time_point now);
    void emit_unload(model_id m, time_point now);
    void dispatch_queued(model_id m, time_point now);
    void dispatch(request_id id, detail::request_rt& r, time_point now);
    void reject(request_id id, model_id m, int status, duration retry_after, std::string reason);
    void end_running(request_id id, time_point now);
    void fail_running(model_id m, const std::string& reason);
    void reject_queue(model_id m, int status, duration retry_after, const std::string& reason);
    void purge_front(detail::model_rt& m);
    void after_queue_shrank(model_id m);
    void expire_queues(time_point now);
    void expire_drains(time_point now);
    void expire_ttl(time_point now);
    void learn_load(detail::model_rt& m, duration measured, bool wake);

    // scheduler_view.cpp (figures shared by decisions and views)
    long long mem(const detail::model_rt& m) const;
    duration reload_cost(const detail::model_rt& m) const;
    duration victim_reload_cost(const detail::model_rt& m) const;
    duration min_residency(const detail::model_rt& m) const;
    duration max_wait(const detail::model_rt& m) const;
    double rate_now(const detail::model_rt& m, time_point now) const;
    double rate_per_s(const detail::model_rt& m, time_point now) const;
    bool is_static(const detail::model_rt& m) const { return m.spec.kind == lifecycle::static_server; }
    long long committed_mb(std::size_t device) const;
    int committed_count(std::optional<std::size_t> device) const;
    int physical_count(std::optional<std::size_t> device) const;
    duration backoff_for(int failures) const;

    scheduler_settings settings_;
    std::vector<device_spec> devices_;
    std::vector<detail::model_rt> models_;
    std::unordered_map<request_id, detail::request_rt> requests_;
    std::vector<action> actions_;
    scheduler_counters counters_;
    std::optional<time_point> decide_at_;
    time_point now_{};
    std::optional<time_point> first_event_;  // since when the request rates have been observed
    std::uint64_t next_ticket_ = 1;
    std::uint64_t next_reservation_ = 1;
};

// create()'s answer: a scheduler, or every configuration error found, each
// naming the model or device at fault.
struct scheduler_build {
    std::optional<scheduler> value;
    std::vector<std::string> errors;
};

}  // namespace swapgate::routing
