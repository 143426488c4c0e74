// The X-Swapgate-Cache response header every proxied response carries. Pure.
#pragma once
#include <string>

namespace swapgate::cache {

enum class cache_status { hit, miss, semantic_hit, bypass, off };

// "hit", "miss", "bypass", "off", or "semantic-hit; similarity=0.973" (three
// decimals, always '.', clamped to [-1, 1]; `similarity` is used for semantic_hit only).
std::string status_header_value(cache_status status, double similarity = 0.0);

}  // namespace swapgate::cache
