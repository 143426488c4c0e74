// stderr logging for swapgate-sim: one line per event, off with --quiet.
#pragma once
#include <cstdio>
#include <string_view>

namespace swapgate::sim {

inline bool& log_quiet() {
    static bool quiet = false;
    return quiet;
}

// Writes "swapgate-sim: <text>\n" to stderr in one call (lines from threads do not interleave).
inline void log_line(std::string_view text) {
    if (log_quiet()) return;
    char buf[1024];
    int n = std::snprintf(buf, sizeof buf, "swapgate-sim: %.*s\n", static_cast<int>(text.size()), text.data());
    if (n > 0) std::fwrite(buf, 1, static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1, stderr);
}

}  // namespace swapgate::sim
