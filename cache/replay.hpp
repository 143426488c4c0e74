// Serves a completion_record in the form the client asked for. Pure.
//
// Same form as recorded: the stored response / the stored chunks (chunk boundaries,
// per-chunk members and tool-call indexes as the upstream sent them).
// Other form: a non-stream body assembled from the merged deltas, or a stream
// synthesised in OpenAI order: a role-only first chunk per choice (with the
// message's non-text members, e.g. refusal: null), text pieces of reasoning_content,
// reasoning, content and refusal (split before each whitespace run, at most 64
// bytes, never inside a UTF-8 sequence), tool-call deltas (index, id, type,
// function.name, arguments "" first, then argument pieces), a finish chunk, and a
// `choices: []` usage chunk when include_usage. Choices of n > 1 follow one another.
//
// Usage on a hit is the usage the original upstream call reported, unchanged: it is
// what the answer cost. The top-level "swapgate_cache" marker (options.marker) says
// that it came from the cache: on the non-stream body, and on a stream's final chunk.
#pragma once
#include "cache/completion_record.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace swapgate::cache {

struct replay_options {
    bool include_usage = false;            // streams: the hit request's stream_options.include_usage
    std::string id;                        // non-empty: replaces the stored completion id
    std::string model;                     // non-empty: replaces the stored `model`
    std::optional<std::int64_t> created;   // replaces the stored `created`
    std::string marker = "hit";            // value of top-level "swapgate_cache"; empty = no marker
};

// False when the record cannot be replayed faithfully in that form: a non-stream
// body needs usage, and so does a stream with include_usage. Treat it as a miss
// (the proxy asks upstream streams for usage when it means to store them).
bool replayable(const completion_record& record, bool as_stream, bool include_usage);

// The non-stream body (chat.completion or text_completion); usage always present
// (null if the upstream never reported it, see replayable()).
nlohmann::json to_response_json(const completion_record& record, const replay_options& options = {});

// The stream's chunk payloads, in order, without [DONE].
std::vector<nlohmann::json> to_stream_chunks(const completion_record& record, const replay_options& options);

// The stream as SSE: "data: <chunk>\n\n" per chunk, then "data: [DONE]\n\n".
std::vector<std::string> to_sse_events(const completion_record& record, const replay_options& options);

// Splits text the way synthesised streams do (exposed for tests).
std::vector<std::string> split_text_pieces(const std::string& text, std::size_t max_piece = 64);

}  // namespace swapgate::cache
