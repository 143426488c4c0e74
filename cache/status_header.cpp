#include "cache/status_header.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace swapgate::cache {

std::string status_header_value(cache_status status, double similarity) {
    switch (status) {
        case cache_status::hit: return "hit";
        case cache_status::miss: return "miss";
        case cache_status::bypass: return "bypass";
        case cache_status::off: return "off";
        case cache_status::semantic_hit: break;
    }
    if (!std::isfinite(similarity)) similarity = 0.0;
    similarity = std::clamp(similarity, -1.0, 1.0);
    char buf[32];
    // to_chars, not printf: the decimal point must not depend on the C locale.
    auto r = std::to_chars(buf, buf + sizeof buf, similarity, std::chars_format::fixed, 3);
    return "semantic-hit; similarity=" + std::string(buf, r.ptr);
}

}  // namespace swapgate::cache
