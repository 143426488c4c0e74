// Internal bookkeeping of the scheduler: one record per model and per live
// request. Not part of the API; scheduler.hpp includes it only because the
// class holds these by value.
#pragma once
#include "routing/scheduler_types.hpp"

#include <deque>
#include <set>

namespace swapgate::routing::detail {

// A place in a model's queue. Cancelled requests leave their entry behind (a
// tombstone) and are skipped when popped: cancellation stays O(1). `ticket`
// tells a live entry from a tombstone even if the caller reuses the id.
struct queue_entry {
    request_id id = 0;
    std::uint64_t ticket = 0;
};

struct request_rt {
    model_id model = 0;
    std::uint64_t ticket = 0;
    time_point arrived{};
    time_point dispatched{};
    bool running = false;
};

struct model_rt {
    model_spec spec;
    std::size_t device = 0;
    model_state state = model_state::unloaded;
    bool asleep = false;          // vllm_sleep: the server sleeps, the next load is a wake
    long long observed_mb = -1;   // measured after the last load; -1 = none yet

    // Waiting requests in arrival order (tombstones included), the live count
    // and the sum of their arrival times (for the age-weighted score in O(1)).
    std::deque<queue_entry> queue;
    int queued = 0;
    long long arrival_sum_ms = 0;
    std::set<request_id> running;  // ordered so failures are reported in a stable order

    time_point last_used{};
    time_point loaded_at{};
    int served_since_load = 0;    // requests dispatched since the last load_finished
    time_point load_started{};
    time_point drain_deadline{};
    time_point retry_at{};        // failed: new requests rejected until then
    bool load_is_wake = false;

    // Reservation (state pending): victims still to unload, and whether an
    // admin/preload asked for it (then it stays even when nobody waits).
    bool admin_hold = false;
    int outstanding_victims = 0;
    std::uint64_t reservation = 0;
    // As a victim: whose reservation it makes room for (0 = none) and why.
    model_id victim_for = 0;
    std::uint64_t victim_for_reservation = 0;
    std::string eviction_reason;

    // Learned costs and statistics.
    duration cold_cost{0};
    duration wake_cost{0};
    bool cold_measured = false;
    bool wake_measured = false;
    int load_count = 0;
    int wake_count = 0;
    duration total_load_time{0};
    double rate = 0;              // exponentially decayed arrival count
    time_point rate_at{};
    double service_ms = 0;        // moving average of service times; 0 = none yet
    int consecutive_failures = 0;
    std::string last_error;
};

}  // namespace swapgate::routing::detail
