// Per-model cache settings, as the proxy hands them to the cache helpers. The
// config module owns the YAML; the lead maps `models[].cache` onto this struct.
#pragma once
#include <chrono>
#include <cstddef>
#include <string>

namespace swapgate::cache {

// models[].cache.mode
enum class cache_mode {
    deterministic,  // default: only temperature 0 or an explicit seed, n = 1, no logprobs
    always,         // every request (n > 1 and sampling included; logprobs still not stored)
    off,
};

// models[].cache.semantic: the similarity tier (chat only).
struct semantic_settings {
    bool enabled = false;
    std::string embedding_model;    // resolved id of the model that embeds the final user message
    float threshold = 0.95f;        // minimum cosine similarity for a semantic hit
    std::size_t min_chars = 12;     // shorter final messages (code points, normalised) skip the tier
    std::size_t max_chars = 2000;   // longer ones skip it too: small edits vanish in long embeddings
    std::size_t max_turns = 4;      // user messages in the conversation, the final one included
};

struct model_cache_settings {
    cache_mode mode = cache_mode::deterministic;
    std::chrono::milliseconds ttl{3600 * 1000};
    std::size_t max_entry_bytes = 1u << 20;  // serialised record; larger completions are not stored
    semantic_settings semantic;
};

}  // namespace swapgate::cache
