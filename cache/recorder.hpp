// Records one upstream completion into a completion_record: a non-stream
// chat/completions response, or the `data:` payloads of a stream. Pure and
// incremental: the relay feeds each SSE event as it tees it to the client.
// Not thread-safe; one recorder per upstream call.
//
// A record is produced only when the completion finished normally: every choice
// has finish_reason stop, length, tool_calls (or legacy function_call), a stream
// ended with [DONE], nothing was an error, nothing carried logprobs (not replayed,
// so not stored) and the payloads stayed within max_bytes. Anything else (an
// error chunk, a cancelled or cut stream, a missing finish_reason) is not storable.
#pragma once
#include "cache/completion_record.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace swapgate::cache {

class completion_recorder {
public:
    // `max_bytes` bounds the upstream payload bytes kept; past it the recorder stops
    // keeping data and the completion is not storable (pass the model's max_entry_bytes).
    explicit completion_recorder(std::size_t max_bytes = std::numeric_limits<std::size_t>::max());
    ~completion_recorder();
    completion_recorder(completion_recorder&&) noexcept;
    completion_recorder& operator=(completion_recorder&&) noexcept;

    // A whole non-stream response body.
    void feed_response(std::string_view body);
    void feed_response_json(const nlohmann::json& body, std::size_t raw_bytes);

    // One SSE event's data (the text after "data: "), "[DONE]" included.
    void feed_event(std::string_view data);
    void feed_chunk_json(const nlohmann::json& chunk, std::size_t raw_bytes);

    // The stream or call went wrong: an `error:` SSE field, a transport error, a
    // timeout, the client cancelling. The completion is then never storable.
    void fail(std::string_view why);

    // True when finish() would return a record.
    bool complete() const;
    // Why it is not complete ("" when it is). Meaningful once the input has ended.
    std::string why_incomplete() const;
    // The record, when complete(); the recorder is spent afterwards.
    std::optional<completion_record> finish();

private:
    struct state;
    std::unique_ptr<state> s_;
};

}  // namespace swapgate::cache
