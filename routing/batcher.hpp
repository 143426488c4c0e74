// Gathering of /v1/embeddings requests for one model into batched upstream
// calls. Pure: events in (with the time), batches out.
//
// Rules:
//  - A request that finds a free slot (fewer than `slots` calls running) and
//    nobody waiting goes at once, alone: a lone request is never delayed.
//  - Otherwise it waits. Waiting requests go out together as soon as a slot
//    frees, or when the oldest has waited `window` (then even without a free
//    slot: the backend queues it, and the wait stays bounded).
//  - A batch holds at most `max_inputs` inputs and `max_tokens` estimated
//    tokens, in arrival order; a single request above either limit goes alone.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace swapgate::routing {

struct batch_limits {
    std::size_t max_inputs = 256;
    std::size_t max_tokens = 16384;
    std::chrono::milliseconds window{100};
    int slots = 1;  // upstream calls in flight at once before requests gather
};

class embed_batcher {
public:
    using time_point = std::chrono::steady_clock::time_point;
    using request_id = std::uint64_t;

    explicit embed_batcher(batch_limits l = {}) : l_(l) {}

    void arrive(time_point now, request_id id, std::size_t inputs, std::size_t tokens);
    // A waiting request left (client gone). Ignored when not waiting.
    void cancel(request_id id);
    // A batch's upstream call ended: its slot is free.
    void call_finished(time_point now);
    void tick(time_point now);

    // Batches to send now, each a list of request ids in arrival order. Each
    // batch taken occupies a slot until call_finished().
    std::vector<std::vector<request_id>> take_batches();
    std::optional<time_point> next_wakeup() const;

    int running() const { return running_; }
    std::size_t waiting() const { return queue_.size(); }

private:
    struct waiting_req {
        request_id id;
        std::size_t inputs, tokens;
        time_point arrived;
    };
    batch_limits l_;
    int running_ = 0;
    std::deque<waiting_req> queue_;
    std::vector<std::vector<request_id>> out_;

    void flush_one();
};

}  // namespace swapgate::routing
