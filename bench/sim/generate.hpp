// Deterministic simulated replies: the text is a pure function of (model name,
// canonical input, seed, max_tokens). Pure, no I/O.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/sim/request.hpp"

namespace swapgate::sim {

// The fixed word list; every entry starts with a space.
std::span<const std::string_view> vocabulary();

// What the model "generates" for one request. Token views point into vocabulary().
struct reply_plan {
    uint64_t hash = 0;
    std::vector<std::string_view> reasoning;  // reasoning_content tokens, before the reply
    std::vector<std::string_view> content;    // reply tokens (empty for a tool call)
    bool tool_call = false;
    std::string tool_id;                      // "call_<hex>"
    std::string tool_name;
    std::string tool_args;                    // a compact JSON object
    std::vector<std::string> arg_fragments;   // tool_args cut into streamed pieces
    std::string_view finish_reason = "stop";  // "stop" | "length" | "tool_calls"
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    // Number of timed token events in a stream (reasoning + content or tool pieces).
    size_t stream_tokens() const;
};

// The 64-bit hash that seeds the reply.
uint64_t reply_hash(std::string_view model, const gen_request& r);

// Plans the reply; `model` is the echoed model name, `reply_tokens` the model's default length.
reply_plan plan_reply(std::string_view model, const gen_request& r, int64_t reply_tokens);

// Content tokens joined (the non-streamed text).
std::string join(const std::vector<std::string_view>& tokens);

// 24 lower-case hex digits derived from `h` (ids).
std::string hex_id(uint64_t h);

}  // namespace swapgate::sim
