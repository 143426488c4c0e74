#include "proxy/sse.hpp"

#include <algorithm>

namespace swapgate::proxy {

void sse_parser::feed(std::string_view bytes) {
    buf_.append(bytes);
    parse(false);
}

void sse_parser::finish() {
    parse(true);
    if (cur_any_ || scan_ < buf_.size()) {
        if (scan_ < buf_.size()) {  // a last line without its line end
            line(std::string_view(buf_).substr(scan_));
            scan_ = buf_.size();
        }
        dispatch(buf_.size());
    }
}

void sse_parser::consume() {
    buf_.erase(0, complete_end_);
    scan_ -= complete_end_;
    searched_ = searched_ > complete_end_ ? searched_ - complete_end_ : 0;
    cur_begin_ = cur_begin_ > complete_end_ ? cur_begin_ - complete_end_ : 0;
    complete_end_ = 0;
    events_.clear();
}

void sse_parser::parse(bool eof) {
    while (scan_ < buf_.size()) {
        // Resume the search where the last one stopped: a long line arriving in
        // many pieces is scanned once, not once per piece.
        size_t e = buf_.find_first_of("\r\n", std::max(scan_, searched_));
        if (e == std::string::npos) {
            searched_ = buf_.size();
            return;
        }
        size_t next = e + 1;
        if (buf_[e] == '\r') {
            // A CR at the very end may be the first half of CRLF: wait for the next byte.
            if (e + 1 == buf_.size() && !eof) {
                searched_ = e;
                return;
            }
            if (e + 1 < buf_.size() && buf_[e + 1] == '\n') next = e + 2;
        }
        std::string_view l = std::string_view(buf_).substr(scan_, e - scan_);
        scan_ = next;
        if (l.empty()) dispatch(next);
        else line(l);
    }
}

void sse_parser::line(std::string_view l) {
    cur_any_ = true;
    if (l.front() == ':') return;  // comment
    size_t colon = l.find(':');
    std::string_view field = l.substr(0, colon), value;
    if (colon != std::string_view::npos) {
        value = l.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
        if (cur_.has_data) cur_.data += '\n';
        cur_.data.append(value);
        cur_.has_data = true;
    } else if (field == "event") {
        cur_.event.assign(value);
    } else if (field == "error") {
        cur_.error.assign(value);
    }
}

void sse_parser::dispatch(size_t end) {
    if (cur_any_) {
        cur_.comment_only = !cur_.has_data && cur_.event.empty() && cur_.error.empty();
        cur_.begin = cur_begin_;
        cur_.end = end;
        events_.push_back(std::move(cur_));
        cur_ = sse_event{};
        cur_any_ = false;
        cur_begin_ = end;
    }
    complete_end_ = end;
}

}  // namespace swapgate::proxy
