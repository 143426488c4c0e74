#include "routing/batcher.hpp"

#include <algorithm>

namespace swapgate::routing {

void embed_batcher::arrive(time_point now, request_id id, std::size_t inputs, std::size_t tokens) {
    if (running_ < l_.slots && queue_.empty()) {
        ++running_;
        out_.push_back({id});
        return;
    }
    queue_.push_back({id, inputs, tokens, now});
    tick(now);
}

void embed_batcher::cancel(request_id id) {
    auto it = std::find_if(queue_.begin(), queue_.end(), [&](const waiting_req& w) { return w.id == id; });
    if (it != queue_.end()) queue_.erase(it);
}

void embed_batcher::flush_one() {
    std::vector<request_id> batch;
    std::size_t inputs = 0, tokens = 0;
    while (!queue_.empty()) {
        const auto& w = queue_.front();
        bool fits = batch.empty() || (inputs + w.inputs <= l_.max_inputs && tokens + w.tokens <= l_.max_tokens);
        if (!fits) break;
        inputs += w.inputs;
        tokens += w.tokens;
        batch.push_back(w.id);
        queue_.pop_front();
    }
    if (batch.empty()) return;
    ++running_;
    out_.push_back(std::move(batch));
}

void embed_batcher::call_finished(time_point now) {
    if (running_ > 0) --running_;
    tick(now);
}

void embed_batcher::tick(time_point now) {
    // Free slots take waiting requests at once.
    while (!queue_.empty() && running_ < l_.slots) flush_one();
    // The window bounds the wait even while every slot is busy.
    while (!queue_.empty() && now - queue_.front().arrived >= l_.window) flush_one();
}

std::vector<std::vector<embed_batcher::request_id>> embed_batcher::take_batches() {
    std::vector<std::vector<request_id>> out;
    out.swap(out_);
    return out;
}

std::optional<embed_batcher::time_point> embed_batcher::next_wakeup() const {
    if (queue_.empty()) return std::nullopt;
    return queue_.front().arrived + l_.window;
}

}  // namespace swapgate::routing
