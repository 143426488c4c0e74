// Float32 vector helpers for the semantic tier. Pure.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace swapgate::cache {

// Scales `v` to unit length. False (and `v` unchanged) when its norm is zero or
// any component is not finite.
bool l2_normalize(std::span<float> v);

// Dot product; 0 when the sizes differ. Accumulates in double.
float dot(std::span<const float> a, std::span<const float> b);

// Cosine similarity of two vectors of any length; 0 when either is zero or the
// sizes differ.
float cosine(std::span<const float> a, std::span<const float> b);

// An embedding as an upstream returns it: a JSON array of numbers, or (with
// encoding_format "base64") a base64 string of little-endian float32. nullopt on
// anything else, an empty vector or a non-finite component.
std::optional<std::vector<float>> parse_embedding(const nlohmann::json& value);

// Standard base64 (padding optional); nullopt on invalid characters.
std::optional<std::vector<unsigned char>> base64_decode(std::string_view text);

}  // namespace swapgate::cache
