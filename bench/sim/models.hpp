// Runtime state of the simulated models: residency (unloaded, loading, loaded,
// sleeping, waking), the simulated memory budget, and each model's FIFO of slots.
// Thread-safe: state sits behind one mutex; waiters sleep on a timer of their own
// executor and are woken by a cancel posted to that executor. Load, sleep and wake
// latencies run as detached timers on the registry's executor, so a requester
// that goes away never leaves a model half-loaded.
#pragma once
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bench/sim/model_spec.hpp"
#include "proxy/net/net.hpp"

namespace swapgate::sim {

enum class model_state { unloaded, loading, loaded, sleeping, waking };
std::string_view to_string(model_state s);

// Outcome of a residency operation: status 200, an HTTP error with an OpenAI-style
// body, or 0 when the awaiting coroutine was cancelled (its client left).
struct admit {
    int status = 200;
    std::string body;
    bool ok() const { return status == 200; }
};

// Per-model request counters (atomics: updated from any connection).
struct model_counters {
    std::atomic<uint64_t> requests{0}, completed{0}, active{0};
};

// A consistent copy of one model's state, for status endpoints.
struct model_view {
    model_spec spec;
    model_state state = model_state::unloaded;
    int sleep_level = 0;
    bool holds_memory = false;
    int busy_slots = 0;
    size_t queued = 0;
    uint64_t loads = 0, unloads = 0;
    std::chrono::system_clock::time_point changed_at;
};

class models {
public:
    models(net::asio::any_io_executor ex, std::vector<model_spec> specs, int64_t memory_mb);
    ~models();

    // Starts loading every model whose spec says loaded=1 (in order, while memory lasts).
    void start();

    size_t size() const { return rt_.size(); }
    const model_spec& spec(size_t i) const;
    model_counters& counters(size_t i);
    int64_t memory_capacity_mb() const { return capacity_mb_; }

    // Index of the model a request names: with one model configured any name
    // (even "") resolves to it; -1 when unknown.
    int find(std::string_view name) const;

    // Waits until model i can serve inference. Loaded: 200. On-demand models
    // (loaded=0) are loaded and awaited; others answer 503 while loading, 507 when
    // memory is short. Completes with status 0 when cancelled.
    net::awaitable<admit> ready(size_t i);

    // Takes one of model i's slots, waiting FIFO. false when cancelled (no slot held).
    net::awaitable<bool> acquire(size_t i);
    void release(size_t i);

    // Ollama-style explicit load: starts a load when unloaded and waits for it.
    net::awaitable<admit> load(size_t i);
    // Unloads at once (a pending load or wake is abandoned); in-flight requests finish.
    admit unload(size_t i);
    // vLLM sleep mode: sleep takes sleep_ms and frees the model's memory; wake_up
    // takes wake_ms and needs the memory back.
    net::awaitable<admit> sleep(size_t i, int level);
    net::awaitable<admit> wake(size_t i);

    // False while a model with loaded=1 is loading or waking (llama-server /health).
    bool healthy() const;
    std::vector<model_view> snapshot() const;
    int64_t memory_used_mb() const;

private:
    struct waiter;
    struct runtime;

    net::asio::any_io_executor ex_;
    int64_t capacity_mb_;
    mutable std::mutex mu_;
    std::vector<std::unique_ptr<runtime>> rt_;

    static void signal(const std::shared_ptr<waiter>& w);  // wakes `w` on its own executor
    int64_t used_mb_locked() const;
    admit begin_load_locked(size_t i);
    void begin_transition_locked(size_t i, model_state target, int64_t ms);
    void notify_locked(runtime& r);
    void set_state_locked(runtime& r, model_state s);
    net::awaitable<void> finish_transition(size_t i, uint64_t epoch, model_state target, int64_t ms);
    // Waits for the next state change of model i; false when cancelled.
    net::awaitable<bool> wait_change(size_t i, std::shared_ptr<waiter>& w);
};

}  // namespace swapgate::sim
