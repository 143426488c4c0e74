// RESP (the Redis protocol) without I/O: the reply value type, a decoder that
// turns received bytes into replies (hiredis' redisReader underneath), and
// command encoding (hiredis' redisFormatCommandArgv). Binary safe throughout.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;  // hiredis, kept out of this header

namespace swapgate::redis {

// One reply as a value: a copy of hiredis' redisReply tree.
struct redis_reply {
    enum class kind { nil, status, error, integer, string, array };
    kind type = kind::nil;
    std::string str;                  // status, error and string replies (any bytes)
    long long integer = 0;            // integer replies
    std::vector<redis_reply> elements;  // array replies

    bool is_nil() const { return type == kind::nil; }
    bool is_error() const { return type == kind::error; }
    bool is_string() const { return type == kind::string; }
    bool is_integer() const { return type == kind::integer; }
    bool is_array() const { return type == kind::array; }
    bool is_status() const { return type == kind::status; }
};

const char* kind_name(redis_reply::kind k);
// A short readable form for logs and test messages ("\"OK\"", "(nil)", "[1, \"a\"]").
std::string describe(const redis_reply& r);

// Decodes a byte stream into replies, in order. Not thread-safe; one per connection.
class resp_decoder {
public:
    resp_decoder();
    ~resp_decoder();
    resp_decoder(const resp_decoder&) = delete;
    resp_decoder& operator=(const resp_decoder&) = delete;

    enum class status { reply, need_more, protocol_error };
    // Appends received bytes. False on a protocol error (see error()).
    bool feed(const char* data, std::size_t n);
    // The next complete reply in `out`, or need_more. After protocol_error the
    // stream is unusable: the connection must be dropped.
    status next(redis_reply& out);
    const std::string& error() const { return error_; }

private:
    redisReader* reader_;
    std::string error_;
};

// Appends one command ("SET", key, value...) in RESP to `out`.
void append_command(std::string& out, const std::vector<std::string>& args);
std::string encode_command(const std::vector<std::string>& args);

}  // namespace swapgate::redis
