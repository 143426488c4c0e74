#include "proxy/json_scan.hpp"

#include <cstring>

namespace swapgate::proxy::json_scan {
namespace {

constexpr auto npos = std::string_view::npos;

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t skip_ws(std::string_view s, size_t i) {
    while (i < s.size() && is_ws(s[i])) ++i;
    return i;
}

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The strict validator: a recursive descent with a depth bound.
struct validator {
    std::string_view s;
    size_t i = 0;
    int max_depth;
    std::string& error;

    bool fail(const char* what) {
        error = std::string(what) + " at byte " + std::to_string(i);
        return false;
    }

    bool string() {
        ++i;  // opening quote
        while (i < s.size()) {
            unsigned char c = static_cast<unsigned char>(s[i]);
            if (c == '"') {
                ++i;
                return true;
            }
            if (c == '\\') {
                if (++i >= s.size()) break;
                char e = s[i];
                if (e == 'u') {
                    unsigned cp = 0;
                    if (!u_escape(cp)) return false;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {  // must pair with a low surrogate
                        unsigned lo = 0;
                        if (i + 1 >= s.size() || s[i] != '\\' || s[i + 1] != 'u') return fail("lone high surrogate");
                        ++i;
                        if (!u_escape(lo)) return false;
                        if (lo < 0xDC00 || lo > 0xDFFF) return fail("lone high surrogate");
                    }
                } else if (std::strchr("\"\\/bfnrt", e) && e != '\0') {
                    ++i;
                } else {
                    return fail("invalid escape");
                }
            } else if (c < 0x20) {
                return fail("control character in a string");
            } else if (c < 0x80) {
                ++i;
            } else {
                // UTF-8: reject overlongs, surrogates and code points past U+10FFFF.
                int n;
                unsigned lo = 0x80, hi = 0xBF;
                if (c >= 0xC2 && c <= 0xDF) n = 1;
                else if (c == 0xE0) n = 2, lo = 0xA0;
                else if (c >= 0xE1 && c <= 0xEC) n = 2;
                else if (c == 0xED) n = 2, hi = 0x9F;
                else if (c >= 0xEE && c <= 0xEF) n = 2;
                else if (c == 0xF0) n = 3, lo = 0x90;
                else if (c >= 0xF1 && c <= 0xF3) n = 3;
                else if (c == 0xF4) n = 3, hi = 0x8F;
                else return fail("invalid UTF-8");
                if (i + n >= s.size()) return fail("invalid UTF-8");
                unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
                if (c1 < lo || c1 > hi) return fail("invalid UTF-8");
                for (int k = 2; k <= n; ++k) {
                    unsigned char ck = static_cast<unsigned char>(s[i + k]);
                    if (ck < 0x80 || ck > 0xBF) return fail("invalid UTF-8");
                }
                i += n + 1;
            }
        }
        return fail("unterminated string");
    }

    // i at the 'u' of "\\uXXXX": reads the code unit, leaves i after it.
    bool u_escape(unsigned& cp) {
        if (i + 4 >= s.size()) return fail("unterminated string");
        for (int k = 1; k <= 4; ++k) {
            int h = hex(s[i + k]);
            if (h < 0) return fail("invalid \\u escape");
            cp = cp * 16 + static_cast<unsigned>(h);
        }
        i += 5;
        return true;
    }

    bool number() {
        size_t start = i;
        if (s[i] == '-') ++i;
        if (i >= s.size()) return fail("invalid number");
        if (s[i] == '0') ++i;
        else if (s[i] >= '1' && s[i] <= '9')
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        else return fail("invalid number");
        if (i < s.size() && s[i] == '.') {
            ++i;
            size_t d = i;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
            if (i == d) return fail("invalid number");
        }
        if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
            ++i;
            if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
            size_t d = i;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
            if (i == d) return fail("invalid number");
        }
        (void)start;
        return true;
    }

    bool literal(std::string_view word) {
        if (s.substr(i, word.size()) != word) return fail("invalid literal");
        i += word.size();
        return true;
    }

    bool val(int depth) {
        if (depth > max_depth) return fail("nesting too deep");
        i = skip_ws(s, i);
        if (i >= s.size()) return fail("unexpected end");
        char c = s[i];
        if (c == '"') return string();
        if (c == '{') {
            i = skip_ws(s, i + 1);
            if (i < s.size() && s[i] == '}') return ++i, true;
            for (;;) {
                i = skip_ws(s, i);
                if (i >= s.size() || s[i] != '"') return fail("expected a key");
                if (!string()) return false;
                i = skip_ws(s, i);
                if (i >= s.size() || s[i] != ':') return fail("expected ':'");
                ++i;
                if (!val(depth + 1)) return false;
                i = skip_ws(s, i);
                if (i < s.size() && s[i] == ',') {
                    ++i;
                    continue;
                }
                if (i < s.size() && s[i] == '}') return ++i, true;
                return fail("expected ',' or '}'");
            }
        }
        if (c == '[') {
            i = skip_ws(s, i + 1);
            if (i < s.size() && s[i] == ']') return ++i, true;
            for (;;) {
                if (!val(depth + 1)) return false;
                i = skip_ws(s, i);
                if (i < s.size() && s[i] == ',') {
                    ++i;
                    continue;
                }
                if (i < s.size() && s[i] == ']') return ++i, true;
                return fail("expected ',' or ']'");
            }
        }
        if (c == 't') return literal("true");
        if (c == 'f') return literal("false");
        if (c == 'n') return literal("null");
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        return fail("unexpected character");
    }
};

// In validated text: the end of the string starting at i (index after its quote).
size_t string_end(std::string_view s, size_t i) {
    const size_t content = i + 1;
    for (size_t from = content;;) {
        const void* q = std::memchr(s.data() + from, '"', s.size() - from);
        if (!q) return npos;
        size_t at = static_cast<size_t>(static_cast<const char*>(q) - s.data());
        size_t bs = 0;  // a quote preceded by an odd run of backslashes is escaped
        while (at - bs > content && s[at - bs - 1] == '\\') ++bs;
        if (bs % 2 == 0) return at + 1;
        from = at + 1;
    }
}

// In validated text: the end of the value starting at i.
size_t value_end(std::string_view s, size_t i) {
    char c = s[i];
    if (c == '"') return string_end(s, i);
    if (c == '{' || c == '[') {
        int depth = 0;
        while (i < s.size()) {
            char d = s[i];
            if (d == '"') {
                i = string_end(s, i);
                continue;
            }
            if (d == '{' || d == '[') ++depth;
            else if ((d == '}' || d == ']') && --depth == 0) return i + 1;
            ++i;
        }
        return npos;
    }
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_ws(s[i])) ++i;
    return i;
}

}  // namespace

bool validate(std::string_view text, std::string& error, int max_depth) {
    validator v{text, 0, max_depth, error};
    if (!v.val(0)) return false;
    v.i = skip_ws(text, v.i);
    if (v.i != text.size()) return v.fail("unexpected text after the JSON value");
    return true;
}

const char* kind_name(kind k) {
    switch (k) {
        case kind::object: return "an object";
        case kind::array: return "an array";
        case kind::string: return "a string";
        case kind::number: return "a number";
        case kind::boolean: return "a boolean";
        case kind::null: return "null";
    }
    return "?";
}

value root(std::string_view text) {
    size_t b = skip_ws(text, 0);
    size_t e = text.size();
    while (e > b && is_ws(text[e - 1])) --e;
    return value{text.substr(b, e - b)};
}

kind value::type() const {
    switch (text.empty() ? 'n' : text[0]) {
        case '{': return kind::object;
        case '[': return kind::array;
        case '"': return kind::string;
        case 't':
        case 'f': return kind::boolean;
        case 'n': return kind::null;
        default: return kind::number;
    }
}

bool value::is_integer() const {
    return type() == kind::number && text.find_first_of(".eE") == std::string_view::npos;
}

std::optional<value> value::member(std::string_view key) const {
    if (type() != kind::object) return std::nullopt;
    std::optional<value> found;
    size_t i = skip_ws(text, 1);
    while (i < text.size() && text[i] == '"') {
        size_t kend = string_end(text, i);
        bool match = text.substr(i + 1, kend - i - 2) == key;
        i = skip_ws(text, kend);
        i = skip_ws(text, i + 1);  // ':'
        size_t vend = value_end(text, i);
        if (match) found = value{text.substr(i, vend - i)};
        i = skip_ws(text, vend);
        if (i < text.size() && text[i] == ',') i = skip_ws(text, i + 1);
        else break;
    }
    return found;
}

size_t value::count_members(std::string_view key) const {
    if (type() != kind::object) return 0;
    size_t n = 0;
    size_t i = skip_ws(text, 1);
    while (i < text.size() && text[i] == '"') {
        size_t kend = string_end(text, i);
        std::string_view raw = text.substr(i, kend - i);
        bool match = raw.find('\\') == std::string_view::npos ? raw.substr(1, raw.size() - 2) == key
                                                              : value{raw}.as_string() == key;
        n += match;
        i = skip_ws(text, kend);
        i = skip_ws(text, i + 1);  // ':'
        i = skip_ws(text, value_end(text, i));
        if (i < text.size() && text[i] == ',') i = skip_ws(text, i + 1);
        else break;
    }
    return n;
}

value::array_cursor value::elements() const {
    if (type() != kind::array) return {text, npos};
    size_t i = skip_ws(text, 1);
    return {text, text[i] == ']' ? npos : i};
}

std::optional<value> value::array_cursor::next() {
    if (pos == npos || pos >= text.size()) return std::nullopt;
    size_t end = value_end(text, pos);
    value v{text.substr(pos, end - pos)};
    size_t i = skip_ws(text, end);
    pos = (i < text.size() && text[i] == ',') ? skip_ws(text, i + 1) : npos;
    return v;
}

value::member_cursor value::members() const {
    if (type() != kind::object) return {text, npos};
    size_t i = skip_ws(text, 1);
    return {text, i < text.size() && text[i] == '"' ? i : npos};
}

std::optional<std::pair<std::string_view, value>> value::member_cursor::next() {
    if (pos == npos || pos >= text.size()) return std::nullopt;
    size_t kend = string_end(text, pos);
    std::string_view key = text.substr(pos + 1, kend - pos - 2);
    size_t i = skip_ws(text, kend);
    i = skip_ws(text, i + 1);  // ':'
    size_t vend = value_end(text, i);
    value v{text.substr(i, vend - i)};
    i = skip_ws(text, vend);
    pos = (i < text.size() && text[i] == ',') ? skip_ws(text, i + 1) : npos;
    return std::make_pair(key, v);
}

size_t value::size() const {
    size_t n = 0;
    if (type() == kind::array) {
        auto c = elements();
        while (c.next()) ++n;
    } else if (type() == kind::object) {
        size_t i = skip_ws(text, 1);
        while (i < text.size() && text[i] == '"') {
            ++n;
            i = skip_ws(text, string_end(text, i));
            i = value_end(text, skip_ws(text, i + 1));
            i = skip_ws(text, i);
            if (i < text.size() && text[i] == ',') i = skip_ws(text, i + 1);
            else break;
        }
    }
    return n;
}

std::string value::as_string() const {
    std::string out;
    if (type() != kind::string) return out;
    std::string_view s = text.substr(1, text.size() - 2);
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        char e = s[++i];
        switch (e) {
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = 0;
                for (int k = 1; k <= 4; ++k) cp = cp * 16 + static_cast<unsigned>(hex(s[i + k]));
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < s.size() && s[i + 1] == '\\' && s[i + 2] == 'u') {
                    unsigned lo = 0;
                    for (int k = 3; k <= 6; ++k) lo = lo * 16 + static_cast<unsigned>(hex(s[i + k]));
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // lone surrogate
                if (cp < 0x80) out += static_cast<char>(cp);
                else if (cp < 0x800) {
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
                break;
            }
            default: out += e; break;  // \" \\ \/
        }
    }
    return out;
}

}  // namespace swapgate::proxy::json_scan
