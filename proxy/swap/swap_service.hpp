// The swap service: the proxy's side of the scheduler. It owns the pure
// routing::scheduler on one strand, feeds it events (requests arriving,
// finishing, leaving; loads and unloads completing; servers crashing; the
// clock) and carries out its actions through the model drivers.
//
// A request for a managed model calls admit(): it is dispatched at once when
// its model is resident with a free slot, else it waits (a timer on the
// session's own strand, woken by the service) while the client is watched; a
// client that leaves is taken out of the queue at once. After the exchange the
// relay calls finished(). If the scheduler fails a running request (its server
// crashed, or its drain timed out), the service aborts the upstream call.
#pragma once
#include "config/config.hpp"
#include "proxy/metrics.hpp"
#include "proxy/swap/driver.hpp"
#include "proxy/upstream.hpp"
#include "routing/residency.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace swapgate::proxy {

// One request's place with the scheduler. Fields below `ex` are read and
// written on the session strand `ex` only.
struct swap_ticket {
    enum class state { waiting, dispatched, rejected, gone };
    swap_ticket(net::any_io_executor session, routing::request_id i, routing::model_id m)
        : id(i), model(m), ex(session), wake(session) {}
    const routing::request_id id;
    const routing::model_id model;
    const net::any_io_executor ex;
    bool answered = false;  // on the service's strand: a dispatch/reject went out
    net::steady_timer wake;
    state st = state::waiting;
    bool queued = false;                 // did not dispatch at once
    int status = 0;                      // rejected: HTTP status
    std::chrono::milliseconds retry_after{0};
    std::string reason;                  // rejected: why
    std::shared_ptr<backend_pool> pool;  // dispatched: where to send it
    upstream_call* call = nullptr;       // running: aborted by a fail_request
    bool failed = false;                 // the scheduler failed it while running
    std::string fail_reason;
    bool client_gone = false;
    bool timed_out = false;
    bool watching_client = false;
};

using sclock_point = std::chrono::steady_clock::time_point;

class swap_service {
public:
    // Throws std::runtime_error when the configuration cannot be scheduled.
    swap_service(net::asio::io_context& ioc, std::shared_ptr<const config::config> cfg, metrics& stats,
                 const std::map<std::string, std::shared_ptr<backend_pool>>& pools);
    ~swap_service();

    // The scheduler's id of a managed model; nullopt for one without a driver.
    std::optional<routing::model_id> managed(const config::model* m) const;
    std::size_t managed_count() const { return models_.size(); }

    // Thread-safe snapshot for routing (updated after every scheduler event):
    // ready = resident with a free slot; fits = resident, or loadable without
    // evicting; the scheduler's estimate of the wait for a new request.
    struct residency_snapshot {
        bool ready = true;
        bool fits = true;
        std::chrono::milliseconds expected_wait{0};
    };
    residency_snapshot residency(const config::model* m) const;

    // Drivers' init, then preloads. Returns at once; the work runs on the strand.
    void start();
    // Waits until the request may go (or was refused, or the client left).
    // With a `deadline`, a request still waiting then leaves the queue (state gone,
    // timed_out set): for internal calls that must not wait, like the semantic
    // cache's embedding.
    net::awaitable<std::shared_ptr<swap_ticket>> admit(routing::model_id model, net::tcp_stream::socket_type* client,
                                                       std::optional<std::chrono::steady_clock::time_point> deadline = {});
    // The exchange of a dispatched request ended (or the client left while it ran).
    void finished(std::shared_ptr<swap_ticket> t, bool cancelled);

    // Admin API; each returns a JSON document (and an HTTP status).
    struct admin_answer {
        int status = 200;
        std::string body;
    };
    net::awaitable<admin_answer> models_status();
    net::awaitable<admin_answer> load(std::string name, bool force);
    net::awaitable<admin_answer> unload(std::string name);
    net::awaitable<admin_answer> unload_idle();
    net::awaitable<admin_answer> can_load(std::string name);

    // Shutdown: stops every server swapgate started (blocking, bounded). After
    // the io_context stopped.
    void terminate();

private:
    struct model_rt {
        const config::model* cfg = nullptr;
        std::unique_ptr<model_driver> driver;
        std::shared_ptr<backend_pool> pool;  // while loaded (process: this incarnation's)
        std::chrono::steady_clock::time_point load_started{};
        bool load_is_wake = false;
        std::string state_label;             // for the model_state gauge
        std::uint64_t served_this_load = 0;  // dispatches since the last load finished
        std::uint64_t wasted_loads = 0;      // loads that served fewer than 2 requests
    };
    // Time integrals for the scheduling benchmark: how much of the budget held
    // models, and how much held models that were serving a request.
    struct usage {
        sclock_point last{};
        double budget_mb_s = 0, resident_mb_s = 0, serving_mb_s = 0;
    };

    net::asio::io_context& ioc_;
    std::shared_ptr<const config::config> cfg_;
    metrics& stats_;
    net::any_io_executor strand_;
    routing::residency_inputs inputs_;
    std::optional<routing::scheduler> sched_;
    std::vector<model_rt> models_;                                         // by model_id
    std::unordered_map<const config::model*, routing::model_id> by_cfg_;  // immutable after construction
    std::unordered_map<routing::request_id, std::shared_ptr<swap_ticket>> tickets_;  // on strand_
    net::steady_timer tick_;
    std::optional<std::chrono::steady_clock::time_point> tick_at_;
    std::atomic<routing::request_id> next_id_{1};
    struct snapshot_atomics {
        std::atomic<bool> ready{false}, fits{true};
        // When the scheduler expects a new request could be served, as steady_clock
        // ticks: absolute, so a snapshot read long after the last event is not stale.
        std::atomic<long long> ready_at{0};
    };
    std::unique_ptr<snapshot_atomics[]> snap_;
    bool stopped_ = false;
    usage usage_;

    // All on strand_.
    void arrive(std::shared_ptr<swap_ticket> t);
    void run_actions();
    void carry_out(const routing::action& a);
    void start_load(routing::model_id m, bool wake);
    void start_unload(routing::model_id m, int sleep_level, std::string reason);
    void on_loaded(routing::model_id m, load_outcome o);
    void on_unloaded(routing::model_id m, std::string reason);
    void on_crash(routing::model_id m, std::string why);
    void arm_tick();
    void account();  // before every event: integrates usage_ over the time since the last one
    void loaded_model_leaves(routing::model_id m);
    void publish_gauges();
    std::optional<routing::model_id> find(const std::string& name) const;
    std::string status_json() const;

    struct admin_box;
    void post_admin(std::shared_ptr<admin_box> b, std::function<admin_answer()> f);
    net::awaitable<admin_answer> await_admin(std::shared_ptr<admin_box> b);
};

}  // namespace swapgate::proxy
