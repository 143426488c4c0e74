// What the router reads from a request body (routing/ROUTING.md): the script
// of the conversation, tools and images, turns, code blocks, reasoning cues, a
// complexity score and a prompt token estimate. Pure functions of the body.
#pragma once
#include "config/routing_config.hpp"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace swapgate::routing {

inline constexpr std::size_t script_count = config::script_names.size();

// A script holding at least this share of the letters is the `dominant` one.
inline constexpr double dominant_share = 0.5;
// Japanese: when Kana are at least this share of the Han+Kana letters, the
// Han letters count as Kana (kanji inside Japanese text are not Chinese).
inline constexpr double japanese_kana_share = 0.2;
// Tokens charged per image content part (OpenAI's high-detail 512px tile: 85 + 170*4 ~ 765).
inline constexpr long long image_tokens = 765;

// The script of a code point as an index into config::script_names; -1 for
// anything that is not a letter of a known script (digits, punctuation, emoji).
int script_of(char32_t cp);
// Decodes the code point at `at` and advances past it; malformed UTF-8 yields
// U+FFFD and advances one byte.
char32_t next_code_point(std::string_view s, std::size_t& at);

struct text_features {
    // Letters per script over the user messages (over the system messages
    // when the users wrote no letter at all); Japanese rule applied.
    std::array<long long, script_count> letters{};
    long long letter_total = 0;
    std::string dominant;    // the script with >= dominant_share of the letters; empty when none
    bool has_tools = false;  // a non-empty `tools` (or legacy `functions`) array
    bool has_images = false; // a content part of type image_url, input_image or image, in any message
    int turns = 0;           // user messages (a completions `prompt` counts as one)
    int messages = 0;
    int code_blocks = 0;     // ``` fences in user text, pairs rounded up
    int reasoning_cues = 0;  // distinct cues found in user text (whole words, ASCII case-insensitive)
    long long user_chars = 0;   // code points of user text
    long long total_chars = 0;  // code points of all message text
    long long prompt_tokens = 0;  // estimate_prompt_tokens(body)
    double complexity = 0;        // complexity_score(...)

    // The share of the letters written in `script` (a canonical name); 0 without letters.
    double share(std::string_view script) const;
};

// The built-in reasoning cues: prove, proof, step by step, why, derive,
// explain, analyze, analyse, compare, justify, evaluate, reason, reasoning,
// trade-off, tradeoff, optimize, optimise, algorithm, theorem, calculate,
// design, debug, refactor, pros and cons, in depth.
const std::vector<std::string>& default_reasoning_cues();

// complexity = 0.3*length + 0.2*code + 0.4*reasoning + 0.1*turns, each term in [0,1]:
//   length    = min(1, user_chars / 3000)
//   code      = min(1, code_blocks / 2)
//   reasoning = min(1, reasoning_cues / 3)
//   turns     = min(1, (turns - 1) / 9)      (1 turn: 0; 10 or more: 1)
double complexity_score(long long user_chars, int code_blocks, int reasoning_cues, int turns);

// Token estimates (no tokenizer): a letter of Han, Kana or Hangul is 1 token;
// every other code point adds its UTF-8 bytes and those bytes count 1 token per
// 4, rounded up (English ~ 4 characters per token, Greek/Cyrillic ~ 2).
long long estimate_text_tokens(std::string_view text);
// 4 per message + its text (string content or text parts) + image_tokens per
// image part + the JSON of tool_calls and other parts at 4 bytes per token.
long long estimate_message_tokens(const nlohmann::json& message);
// 3 (reply priming) + every message + the JSON of `tools`/`functions` at 4
// bytes per token; a completions body: 3 + its `prompt` (string or strings).
long long estimate_prompt_tokens(const nlohmann::json& body);

// `cues` empty: default_reasoning_cues().
text_features extract_features(const nlohmann::json& body, const std::vector<std::string>& cues = {});

}  // namespace swapgate::routing
