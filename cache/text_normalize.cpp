#include "cache/text_normalize.hpp"

#include "cache/canonical.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace swapgate::cache {
namespace {

struct composition {
    std::uint32_t base, mark, composed;
};

constexpr composition nfc_pairs[] = {
#include "cache/nfc_pairs.inc"
};

std::uint32_t compose(std::uint32_t base, std::uint32_t mark) {
    auto it = std::lower_bound(std::begin(nfc_pairs), std::end(nfc_pairs), composition{base, mark, 0},
                               [](const composition& a, const composition& b) {
                                   return a.base != b.base ? a.base < b.base : a.mark < b.mark;
                               });
    if (it != std::end(nfc_pairs) && it->base == base && it->mark == mark) return it->composed;
    return 0;
}

bool is_white_space(std::uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

bool is_removed(std::uint32_t cp) { return cp == 0x200B || cp == 0x2060 || cp == 0xFEFF; }

// Decodes valid UTF-8 (sanitize_utf8 ran first).
std::vector<std::uint32_t> decode(std::string_view s) {
    std::vector<std::uint32_t> out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        std::uint32_t cp;
        std::size_t n;
        if (c < 0x80) { cp = c; n = 1; }
        else if (c < 0xE0) { cp = c & 0x1F; n = 2; }
        else if (c < 0xF0) { cp = c & 0x0F; n = 3; }
        else { cp = c & 0x07; n = 4; }
        for (std::size_t k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        out.push_back(cp);
        i += n;
    }
    return out;
}

void encode(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

}  // namespace

std::string normalize_text(std::string_view text) {
    std::vector<std::uint32_t> cps = decode(sanitize_utf8(text));
    std::vector<std::uint32_t> composed;
    composed.reserve(cps.size());
    for (std::uint32_t cp : cps) {
        if (is_removed(cp)) continue;
        if (!composed.empty() && cp >= 0x0300 && cp <= 0x036F) {
            if (std::uint32_t c = compose(composed.back(), cp)) {
                composed.back() = c;
                continue;
            }
        }
        composed.push_back(cp);
    }
    std::string out;
    out.reserve(text.size());
    bool pending_space = false;
    for (std::uint32_t cp : composed) {
        if (is_white_space(cp)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        encode(out, cp);
    }
    return out;
}

std::size_t count_code_points(std::string_view text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

}  // namespace swapgate::cache
