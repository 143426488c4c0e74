#include "cache/vector_math.hpp"

#include <nlohmann/json.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace swapgate::cache {

bool l2_normalize(std::span<float> v) {
    double sum = 0;
    for (float x : v) {
        if (!std::isfinite(x)) return false;
        sum += static_cast<double>(x) * x;
    }
    if (sum <= 0) return false;
    double inv = 1.0 / std::sqrt(sum);
    for (float& x : v) x = static_cast<float>(x * inv);
    return true;
}

float dot(std::span<const float> a, std::span<const float> b) {
    if (a.size() != b.size()) return 0.0f;
    double sum = 0;
    for (std::size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
    return static_cast<float>(sum);
}

float cosine(std::span<const float> a, std::span<const float> b) {
    if (a.size() != b.size()) return 0.0f;
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        ab += static_cast<double>(a[i]) * b[i];
        aa += static_cast<double>(a[i]) * a[i];
        bb += static_cast<double>(b[i]) * b[i];
    }
    if (aa <= 0 || bb <= 0) return 0.0f;
    return static_cast<float>(ab / std::sqrt(aa * bb));
}

std::optional<std::vector<unsigned char>> base64_decode(std::string_view text) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    if (text.size() % 4 == 1) return std::nullopt;
    std::vector<unsigned char> out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        int v = value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<unsigned char>((acc >> bits) & 0xFF));
        }
    }
    return out;
}

std::optional<std::vector<float>> parse_embedding(const nlohmann::json& value) {
    std::vector<float> v;
    if (value.is_array()) {
        v.reserve(value.size());
        for (const auto& x : value) {
            if (!x.is_number()) return std::nullopt;
            v.push_back(x.get<float>());
        }
    } else if (value.is_string()) {
        auto bytes = base64_decode(value.get_ref<const std::string&>());
        if (!bytes || bytes->size() % 4 != 0) return std::nullopt;
        v.resize(bytes->size() / 4);
        for (std::size_t i = 0; i < v.size(); ++i) {
            const unsigned char* p = bytes->data() + 4 * i;
            std::uint32_t u = std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
                              std::uint32_t(p[3]) << 24;  // little-endian on the wire
            v[i] = std::bit_cast<float>(u);
        }
    } else {
        return std::nullopt;
    }
    if (v.empty()) return std::nullopt;
    for (float x : v)
        if (!std::isfinite(x)) return std::nullopt;
    return v;
}

}  // namespace swapgate::cache
