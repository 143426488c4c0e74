// A strict, allocation-free JSON validator and a cursor over validated text.
// The request path validates every body and reads a handful of fields; building
// an nlohmann DOM for that cost ~40k instructions per small chat request (a
// quarter of the proxy's CPU), this costs a few per byte.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace swapgate::proxy::json_scan {

// RFC 8259 JSON (UTF-8 checked, no trailing commas or comments, one value and
// only whitespace around it). Nesting deeper than `max_depth` is rejected.
// On failure `error` says what and where.
bool validate(std::string_view text, std::string& error, int max_depth = 256);

enum class kind { object, array, string, number, boolean, null };
const char* kind_name(kind k);  // "an object", "a string", ...

// A value inside text that validate() accepted. Views only; never allocates.
struct value {
    std::string_view text;  // the value's exact bytes
    kind type() const;
    // Object member by key (keys compared as raw bytes; the last duplicate wins).
    std::optional<value> member(std::string_view key) const;
    // How many members have this key once escapes in keys are decoded: more than
    // one, or one spelt with escapes, makes `member` and other parsers disagree.
    size_t count_members(std::string_view key) const;
    // Array elements, in order: call with an index until it returns nullopt.
    // Sequential access from the previous position is O(1) amortised via `at`.
    struct array_cursor {
        std::string_view text;
        size_t pos = 0;  // next element start, or npos at the end
        std::optional<value> next();
    };
    array_cursor elements() const;
    // Object members, in order: the key as written between its quotes (escapes
    // not decoded) and the value.
    struct member_cursor {
        std::string_view text;
        size_t pos = 0;  // next key's opening quote, or npos at the end
        std::optional<std::pair<std::string_view, value>> next();
    };
    member_cursor members() const;
    size_t size() const;          // elements of an array or members of an object
    bool as_bool() const { return text == "true"; }
    bool is_integer() const;      // a number without fraction or exponent
    std::string as_string() const;  // a string value, unescaped
};

// The top-level value of validated text.
value root(std::string_view text);

}  // namespace swapgate::proxy::json_scan
