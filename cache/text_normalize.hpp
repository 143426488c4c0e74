// Normalises the text the semantic tier embeds, so spelling variants that carry no
// meaning embed identically. Pure; no ICU. What it does:
//  - invalid UTF-8 -> U+FFFD;
//  - canonical composition (NFC) of a base letter followed by combining marks, for
//    the Latin, Greek and Cyrillic precomposed letters (U+00C0..U+04FF,
//    U+1E00..U+1FFF; table generated from Unicode 14 data, see CACHE.md);
//  - every Unicode White_Space run -> one ASCII space; leading/trailing trimmed;
//  - U+200B ZERO WIDTH SPACE, U+2060 WORD JOINER and U+FEFF BOM removed.
// Limits: no canonical reordering of several marks given out of order, no Hangul
// or other-script composition, no compatibility folding (NFKC: full-width letters,
// ligatures stay), no case folding. ASCII text only changes in whitespace.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace swapgate::cache {

std::string normalize_text(std::string_view text);

// Number of code points in valid UTF-8 text.
std::size_t count_code_points(std::string_view text);

}  // namespace swapgate::cache
