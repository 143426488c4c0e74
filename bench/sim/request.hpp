// The parts of an OpenAI request body swapgate-sim acts on, extracted once from
// the JSON: generation parameters, tools, and the per-request `sim` fault switches.
// Pure, no I/O.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace swapgate::sim {

// Per-request behaviour overrides from the body field "sim". -1 = not set.
struct sim_switches {
    int64_t tokens = -1;               // reply length
    int64_t token_delay_ms = -1;       // gap between tokens (overrides tps)
    int64_t ttft_ms = -1;              // time to first token
    int64_t first_byte_delay_ms = 0;   // before the response headers
    int status = 0;                    // answer with this HTTP status and an error object
    int64_t die_after_tokens = -1;     // close the socket after N tokens
    int64_t stall_after_tokens = -1;   // stop sending after N tokens, keep the socket open
    int64_t exit_after_tokens = -1;    // _exit(3) the process after N tokens
    int64_t reasoning_tokens = 0;      // reasoning_content tokens before the reply
};

enum class endpoint { chat, completion, embeddings };

// A client error: HTTP status, message and the offending request field.
struct request_error {
    int status = 400;
    std::string message;
    std::string param;  // empty = null
    std::string code;   // empty = null
};

// One tool parameter the simulated tool call fills in.
struct tool_param {
    std::string name;
    std::string type;  // JSON schema type: string, integer, number, boolean, array, object
};

// A chat or text completion request, reduced to what decides the reply.
struct gen_request {
    endpoint kind = endpoint::chat;
    std::string model;            // as sent ("" when absent)
    bool stream = false;
    bool include_usage = false;   // stream_options.include_usage
    int64_t max_tokens = -1;      // max_tokens / max_completion_tokens; -1 = none
    std::string seed;             // canonical text of "seed", "" when absent
    std::string canonical_input;  // messages (chat) or prompt (completion), parsed then dumped
    int64_t prompt_tokens = 0;
    bool tool_call = false;       // reply with a call to `tool_name`
    std::string tool_name;
    std::vector<tool_param> tool_params;
    sim_switches sim;
};

// Parses a chat (`kind == chat`) or text completion body. Never throws.
std::optional<gen_request> parse_gen_request(std::string_view body, endpoint kind, request_error& err);

// An embeddings request: one text per input item (token ids become "t<id>" words).
struct embed_request {
    std::string model;
    std::vector<std::string> items;
    bool base64 = false;
    int64_t prompt_tokens = 0;
    sim_switches sim;
};
std::optional<embed_request> parse_embed_request(std::string_view body, request_error& err);

// Whitespace-separated words in `s`.
int64_t count_words(std::string_view s);

}  // namespace swapgate::sim
