// Incremental server-sent-events parser (WHATWG event-stream rules): bytes in, events out.
// Accepts input split anywhere, LF / CRLF / CR line endings and ':' comment lines.
// No I/O; one instance per response.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace swapgate::bench {

// One dispatched event. `type` is empty when the stream sent no `event:` field.
struct sse_event {
    std::string_view type;
    std::string_view data;   // data lines joined with '\n'
};

class sse_parser {
public:
    using handler = std::function<void(const sse_event&)>;
    // Lines longer than max_line make feed() return false (the stream is broken or hostile).
    explicit sse_parser(std::size_t max_line = 16u << 20) : max_line_(max_line) {}

    // Parses `bytes`, calling `on_event` for every completed event. Returns false on an
    // over-long line; the parser is then unusable.
    bool feed(std::string_view bytes, const handler& on_event);

private:
    void line(std::string_view l, const handler& on_event);

    std::size_t max_line_;
    std::string partial_;      // bytes of an unterminated line
    std::string data_, type_;  // fields of the event being assembled
    bool has_data_ = false;
    bool skip_lf_ = false;     // last byte was CR: a following LF belongs to the same line end
};

}  // namespace swapgate::bench
