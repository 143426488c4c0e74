// The bytes swapgate-sim puts on the wire: HTTP/1.1 response heads, chunked
// framing, OpenAI JSON bodies and SSE events, built by string appends (the hot
// path allocates little and never goes through a JSON DOM). Pure, no I/O.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "bench/sim/generate.hpp"

namespace swapgate::sim {

// Appends `s` as a JSON string literal (quotes included); invalid UTF-8 is passed through.
void append_json_string(std::string& out, std::string_view s);

std::string_view reason_phrase(int status);

// Appends a response head. content_length < 0 means chunked transfer encoding.
// `extra` holds complete header lines ("Name: value\r\n").
void append_head(std::string& out, int status, std::string_view content_type, int64_t content_length,
                 bool keep_alive, std::string_view extra = {});

// A complete response with a body.
std::string http_response(int status, std::string_view content_type, std::string_view body, bool keep_alive,
                          std::string_view extra = {});
inline std::string json_response(int status, std::string_view body, bool keep_alive, std::string_view extra = {}) {
    return http_response(status, "application/json", body, keep_alive, extra);
}

// Appends one HTTP chunk holding `data`.
void append_chunk(std::string& out, std::string_view data);
inline constexpr std::string_view last_chunk = "0\r\n\r\n";

// OpenAI error object: {"error":{"message","type","param","code"}}; empty param/code = null.
std::string openai_error(std::string_view message, std::string_view type, std::string_view param = {},
                         std::string_view code = {});
// The error object a simulated failure with HTTP `status` carries.
std::string status_error(int status);
// llama-server's 503 body: {"error":{"code":503,"message":...,"type":"unavailable_error"}}.
std::string unavailable_error(std::string_view message);

// Identity of one reply, shared by all its chunks.
struct reply_meta {
    std::string id;     // "chatcmpl-..." / "cmpl-..."
    int64_t created = 0;
    std::string model;  // echoed model name
    bool include_usage = false;
};

// Non-streamed bodies.
std::string chat_completion_body(const reply_meta& m, const reply_plan& p);
std::string text_completion_body(const reply_meta& m, const reply_plan& p);

// Builds the SSE events of one streamed reply, each as its own HTTP chunk:
// head() (chat: the role-only chunk; none before a tool call without reasoning,
// whose first token carries role and call header together like OpenAI's),
// token(i) for i < plan.stream_tokens(),
// tail() (finish chunk, usage chunk when asked, [DONE], last chunk).
class sse_builder {
public:
    sse_builder(const reply_meta& meta, const reply_plan& plan, bool chat);
    void head(std::string& out);
    void token(std::string& out, size_t i);
    void tail(std::string& out);

private:
    const reply_meta& meta_;
    const reply_plan& plan_;
    bool chat_;
    std::string prefix_;  // {"id":..,"object":..,"created":..,"model":..,"system_fingerprint":..,"choices":[
    std::string event_;   // scratch
    void begin();
    void end_choice(std::string_view finish_reason);
    void emit(std::string& out);
};

inline constexpr std::string_view system_fingerprint = "fp_swapgate_sim";

}  // namespace swapgate::sim
