// Deterministic bag-of-words embeddings: texts that share most words get a high
// cosine similarity, unrelated texts one near 0. Pure, no I/O.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace swapgate::sim {

// L2-normalised embedding of `text` with `dims` components.
std::vector<float> embed_text(std::string_view text, int dims);

// Lower-cased alphanumeric words of `text` (what embed_text sums over).
std::vector<std::string> embed_words(std::string_view text);

double cosine(const std::vector<float>& a, const std::vector<float>& b);

// Standard base64 of the little-endian float32 bytes (OpenAI encoding_format "base64").
std::string base64_floats(const std::vector<float>& v);

// Appends the JSON array text of `v` ("[0.1,-0.2,...]") to `out`.
void append_float_array(std::string& out, const std::vector<float>& v);

// The /v1/embeddings response body.
std::string embeddings_body(std::string_view model, const std::vector<std::vector<float>>& vectors, bool base64,
                            int64_t prompt_tokens);

}  // namespace swapgate::sim
