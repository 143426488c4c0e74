// Canonical JSON serialisation: one byte string per JSON value, whatever the key
// order, whitespace, number spelling or string escaping of the text it came from.
// Rules (the cache keys depend on them; changing one needs a new schema_version):
//  - objects: keys sorted by their UTF-8 bytes, no whitespace anywhere;
//  - numbers: integers print as integers; floats that are integral and within ±2^53
//    print as integers (1e2, 100.0 -> 100; -0.0 -> 0); other floats in the shortest
//    form that round-trips (std::to_chars), e.g. 0.1, 1e+20;
//  - strings: only '"', '\\' and U+0000..U+001F are escaped (\b \f \n \r \t short forms,
//    else \u00XX); everything else is raw UTF-8; invalid UTF-8 becomes U+FFFD.
// Pure; no I/O.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>

namespace swapgate::cache {

// Appends the canonical form of `value` to `out`.
void append_canonical(std::string& out, const nlohmann::json& value);
// The canonical form of `value`.
std::string canonical_json(const nlohmann::json& value);

// Appends `s` as a canonical JSON string literal (quotes included).
void append_canonical_string(std::string& out, std::string_view s);

// Replaces every invalid UTF-8 sequence in `s` by U+FFFD (one per bad byte).
std::string sanitize_utf8(std::string_view s);

}  // namespace swapgate::cache
