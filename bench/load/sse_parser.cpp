#include "bench/load/sse_parser.hpp"

#include <cstring>

namespace swapgate::bench {

bool sse_parser::feed(std::string_view bytes, const handler& on_event) {
    std::size_t pos = 0;
    const std::size_t n = bytes.size();
    if (skip_lf_ && pos < n) {
        if (bytes[0] == '\n') ++pos;
        skip_lf_ = false;
    }
    while (pos < n) {
        // Find the next CR or LF without a per-byte loop in the common case.
        const char* begin = bytes.data() + pos;
        const std::size_t rest = n - pos;
        const char* lf = static_cast<const char*>(std::memchr(begin, '\n', rest));
        const char* cr = static_cast<const char*>(std::memchr(begin, '\r', lf ? static_cast<std::size_t>(lf - begin) : rest));
        const char* end = cr ? cr : lf;
        if (!end) {
            if (partial_.size() + rest > max_line_) return false;
            partial_.append(begin, rest);
            return true;
        }
        std::string_view piece(begin, static_cast<std::size_t>(end - begin));
        if (partial_.empty()) {
            line(piece, on_event);
        } else {
            if (partial_.size() + piece.size() > max_line_) return false;
            partial_.append(piece);
            line(partial_, on_event);
            partial_.clear();
        }
        pos = static_cast<std::size_t>(end - bytes.data()) + 1;
        if (*end == '\r') {
            if (pos < n) {
                if (bytes[pos] == '\n') ++pos;
            } else {
                skip_lf_ = true;
            }
        }
    }
    return true;
}

void sse_parser::line(std::string_view l, const handler& on_event) {
    if (l.empty()) {
        if (has_data_) on_event(sse_event{type_, data_});
        data_.clear();
        type_.clear();
        has_data_ = false;
        return;
    }
    if (l.front() == ':') return;  // comment / keep-alive
    std::string_view field = l, value;
    if (auto colon = l.find(':'); colon != std::string_view::npos) {
        field = l.substr(0, colon);
        value = l.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
        if (has_data_) data_.push_back('\n');
        data_.append(value);
        has_data_ = true;
    } else if (field == "event") {
        type_.assign(value);
    }
    // id and retry do not matter to a load generator.
}

}  // namespace swapgate::bench
