// 128-bit cache keys: XXH3-128 over canonical bytes. Pure; no I/O.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace swapgate::cache {

// A 128-bit digest. `hex()` is the form used in store keys (32 lowercase hex digits,
// high half first).
struct key128 {
    std::uint64_t high = 0;
    std::uint64_t low = 0;

    std::string hex() const;
    friend bool operator==(const key128&, const key128&) = default;
};

// XXH3_128bits of `bytes`.
key128 hash128(std::string_view bytes);

// Parses the 32-digit form written by key128::hex(); nullopt on anything else.
std::optional<key128> parse_key128(std::string_view hex);

struct key128_hash {
    std::size_t operator()(const key128& k) const noexcept { return static_cast<std::size_t>(k.low ^ (k.high * 0x9E3779B97F4A7C15ull)); }
};

}  // namespace swapgate::cache
