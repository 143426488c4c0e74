// Internal: the data behind a completion_record. Included by the recorder, the
// replay functions and the serialiser only; the proxy uses completion_record.hpp.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace swapgate::cache::detail {

// One choice, merged over all its deltas (stream) or copied (response).
struct choice_data {
    int index = 0;
    nlohmann::json message = nlohmann::json::object();  // chat: the assistant message
    std::string text;                                    // text_completion
    std::string finish_reason;                           // empty = never seen
    nlohmann::json extras = nlohmann::json::object();    // other choice members (logprobs: null)
};

// A stream chunk, stored as its difference from the stream's envelope (the first
// chunk without `choices`): members whose value differs, and envelope members it lacks.
struct stored_chunk {
    nlohmann::json choices;
    nlohmann::json diff = nlohmann::json::object();
    std::vector<std::string> absent;
};

struct record_data {
    bool chat = true;          // chat.completion(.chunk) vs text_completion
    bool from_stream = false;  // which form the upstream answered in
    std::string id;
    std::string model;
    std::int64_t created = 0;
    // Top-level members other than id/object/created/model/choices/usage/obfuscation:
    // system_fingerprint, service_tier, llama-server's timings, ...
    nlohmann::json top = nlohmann::json::object();
    nlohmann::json usage;  // null when the upstream sent none
    std::vector<choice_data> choices;  // sorted by index

    // The source, kept so a replay in the same form is faithful to the chunk.
    nlohmann::json body;      // from_stream == false: the response as received
    nlohmann::json envelope;  // from_stream == true
    std::vector<stored_chunk> chunks;

    std::size_t source_bytes = 0;  // bytes of the upstream payloads recorded
};

// Rebuilds a stored chunk's full JSON.
nlohmann::json expand_chunk(const nlohmann::json& envelope, const stored_chunk& c);

}  // namespace swapgate::cache::detail
