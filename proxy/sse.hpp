// Incremental server-sent-events framing. Bytes go in as they arrive from the
// upstream; complete events come out together with their exact raw bytes, so a
// relay can forward events whole and byte-faithful while looking at their data.
// Handles events split across reads, LF / CRLF / CR line ends and ':' comments.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace swapgate::proxy {

struct sse_event {
    std::string data;   // data lines joined with '\n' (one leading space per line removed)
    std::string event;  // the "event:" field, if any
    bool has_data = false;
    std::string error;  // a non-standard "error:" field (old llama-server), if any
    bool comment_only = false;  // only ':' lines (keep-alive pings)
    size_t begin = 0, end = 0;  // its raw bytes within complete_bytes()
};

class sse_parser {
public:
    // Appends bytes and frames every event they complete.
    void feed(std::string_view bytes);
    // End of input: whatever is left counts as complete (and a pending event with
    // data is dispatched, so a final event without its blank line is not lost).
    void finish();

    // Events completed since the last consume(), in order.
    const std::vector<sse_event>& events() const { return events_; }
    // Their raw bytes, exactly as received (blank lines between events included).
    std::string_view complete_bytes() const { return std::string_view(buf_).substr(0, complete_end_); }
    // Bytes of an event still being received.
    std::string_view incomplete_bytes() const { return std::string_view(buf_).substr(complete_end_); }
    // Drops the complete events and their bytes.
    void consume();

private:
    std::string buf_;
    size_t scan_ = 0;          // first byte not yet split into lines
    size_t searched_ = 0;      // bytes from scan_ on already known to hold no line end
    size_t complete_end_ = 0;  // end of the last complete event
    sse_event cur_;
    bool cur_any_ = false;  // any line seen in the current event
    size_t cur_begin_ = 0;  // where the current event's bytes start
    std::vector<sse_event> events_;
    void parse(bool eof);
    void line(std::string_view l);
    void dispatch(size_t end);
};

}  // namespace swapgate::proxy
