// The stored value of a chat/completions cache entry: one complete, normally
// finished completion, recorded from a non-stream response or from a stream (see
// recorder.hpp), serialisable for Redis and replayable in either form (replay.hpp).
// Immutable and cheap to copy (shared); safe to read from several threads.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace swapgate::cache {

namespace detail {
struct record_data;
}

class completion_record {
public:
    explicit completion_record(std::shared_ptr<const detail::record_data> data);

    bool chat() const;         // chat.completion, else text_completion
    bool from_stream() const;  // recorded from a stream, else from a non-stream response
    bool has_usage() const;    // the upstream reported usage
    std::size_t choice_count() const;
    std::string finish_reason(std::size_t choice) const;

    const detail::record_data& data() const { return *data_; }

private:
    std::shared_ptr<const detail::record_data> data_;
};

// The compact string stored in Redis / the in-process LRU: the source payloads
// (the response body, or the stream's chunks as differences from their common
// envelope) plus the schema version. nullopt when it is larger than `max_bytes`.
std::optional<std::string> serialize_record(const completion_record& record, std::size_t max_bytes);

// Parses serialize_record()'s output by recording its source again. nullopt for
// anything else (garbage, another schema version, an incomplete completion).
std::optional<completion_record> deserialize_record(std::string_view bytes);

}  // namespace swapgate::cache
