#include "cache/canonical.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>

namespace swapgate::cache {
namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";
constexpr double max_exact_integer = 9007199254740992.0;  // 2^53

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        unsigned char cc = byte(i + k);
        if ((cc & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (cc & 0x3F);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return n;
}

void append_number(std::string& out, const nlohmann::json& v) {
    char buf[64];
    std::to_chars_result r{};
    if (v.is_number_unsigned()) {
        r = std::to_chars(buf, buf + sizeof buf, v.get<std::uint64_t>());
    } else if (v.is_number_integer()) {
        r = std::to_chars(buf, buf + sizeof buf, v.get<std::int64_t>());
    } else {
        double d = v.get<double>();
        if (!std::isfinite(d)) {  // cannot come from parsed text; keep the output valid JSON
            out += "null";
            return;
        }
        if (d == 0.0) d = 0.0;  // -0 -> 0
        if (d == std::trunc(d) && std::fabs(d) <= max_exact_integer)
            r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(d));
        else
            r = std::to_chars(buf, buf + sizeof buf, d);
    }
    out.append(buf, r.ptr);
}

}  // namespace

void append_canonical_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                default:
                    if (c < 0x20) {
                        out += "\\u00";
                        out += hex[c >> 4];
                        out += hex[c & 0xF];
                    } else {
                        out += static_cast<char>(c);
                    }
            }
            ++i;
            continue;
        }
        std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) {
            out += replacement;
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    out += '"';
}

std::string sanitize_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) {
            out += replacement;
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

void append_canonical(std::string& out, const nlohmann::json& value) {
    using t = nlohmann::json::value_t;
    switch (value.type()) {
        case t::null:
        case t::discarded: out += "null"; break;
        case t::boolean: out += value.get<bool>() ? "true" : "false"; break;
        case t::number_integer:
        case t::number_unsigned:
        case t::number_float: append_number(out, value); break;
        case t::string: append_canonical_string(out, value.get_ref<const std::string&>()); break;
        case t::binary: {  // never produced by parse(); written as an array of bytes
            out += '[';
            bool first = true;
            for (auto b : value.get_binary()) {
                if (!first) out += ',';
                first = false;
                out += std::to_string(static_cast<unsigned>(b));
            }
            out += ']';
            break;
        }
        case t::array: {
            out += '[';
            bool first = true;
            for (const auto& e : value) {
                if (!first) out += ',';
                first = false;
                append_canonical(out, e);
            }
            out += ']';
            break;
        }
        case t::object: {
            // nlohmann::json keeps objects in a std::map, so iteration is already in
            // byte order of the keys.
            out += '{';
            bool first = true;
            for (const auto& [k, e] : value.items()) {
                if (!first) out += ',';
                first = false;
                append_canonical_string(out, k);
                out += ':';
                append_canonical(out, e);
            }
            out += '}';
            break;
        }
    }
}

std::string canonical_json(const nlohmann::json& value) {
    std::string out;
    append_canonical(out, value);
    return out;
}

}  // namespace swapgate::cache
