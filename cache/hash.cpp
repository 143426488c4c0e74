#include "cache/hash.hpp"

#include <xxhash.h>

namespace swapgate::cache {

std::string key128::hex() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(32, '0');
    for (int i = 0; i < 16; ++i) {
        out[15 - i] = digits[(high >> (4 * i)) & 0xF];
        out[31 - i] = digits[(low >> (4 * i)) & 0xF];
    }
    return out;
}

key128 hash128(std::string_view bytes) {
    XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
    return key128{h.high64, h.low64};
}

std::optional<key128> parse_key128(std::string_view hex) {
    if (hex.size() != 32) return std::nullopt;
    key128 k;
    for (std::size_t i = 0; i < 32; ++i) {
        char c = hex[i];
        std::uint64_t v;
        if (c >= '0' && c <= '9') v = static_cast<std::uint64_t>(c - '0');
        else if (c >= 'a' && c <= 'f') v = static_cast<std::uint64_t>(c - 'a' + 10);
        else return std::nullopt;
        std::uint64_t& half = i < 16 ? k.high : k.low;
        half = (half << 4) | v;
    }
    return k;
}

}  // namespace swapgate::cache
