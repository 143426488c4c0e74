#include "proxy/redis/resp.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <cstdio>
#include <new>

namespace swapgate::redis {

namespace {

redis_reply convert(const redisReply& r) {
    redis_reply out;
    switch (r.type) {
    case REDIS_REPLY_STRING: out.type = redis_reply::kind::string; break;
    case REDIS_REPLY_STATUS: out.type = redis_reply::kind::status; break;
    case REDIS_REPLY_ERROR: out.type = redis_reply::kind::error; break;
    case REDIS_REPLY_INTEGER:
        out.type = redis_reply::kind::integer;
        out.integer = r.integer;
        return out;
    case REDIS_REPLY_ARRAY:
        out.type = redis_reply::kind::array;
        out.elements.reserve(r.elements);
        for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(convert(*r.element[i]));
        return out;
    default: return out;  // REDIS_REPLY_NIL
    }
    if (r.str) out.str.assign(r.str, r.len);
    return out;
}

void describe_into(std::string& s, const redis_reply& r) {
    switch (r.type) {
    case redis_reply::kind::nil: s += "(nil)"; return;
    case redis_reply::kind::integer: s += std::to_string(r.integer); return;
    case redis_reply::kind::error: s += "(error) " + r.str; return;
    case redis_reply::kind::status: s += r.str; return;
    case redis_reply::kind::string:
        s += '"';
        for (unsigned char c : r.str.substr(0, 200)) {
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
                s += static_cast<char>(c);
            } else {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\x%02x", c);
                s += buf;
            }
        }
        if (r.str.size() > 200) s += "...(" + std::to_string(r.str.size()) + " bytes)";
        s += '"';
        return;
    case redis_reply::kind::array:
        s += '[';
        for (size_t i = 0; i < r.elements.size(); ++i) {
            if (i) s += ", ";
            describe_into(s, r.elements[i]);
        }
        s += ']';
        return;
    }
}

}  // namespace

const char* kind_name(redis_reply::kind k) {
    switch (k) {
    case redis_reply::kind::nil: return "nil";
    case redis_reply::kind::status: return "status";
    case redis_reply::kind::error: return "error";
    case redis_reply::kind::integer: return "integer";
    case redis_reply::kind::string: return "string";
    case redis_reply::kind::array: return "array";
    }
    return "?";
}

std::string describe(const redis_reply& r) {
    std::string s;
    describe_into(s, r);
    return s;
}

resp_decoder::resp_decoder() : reader_(redisReaderCreate()) {
    if (!reader_) throw std::bad_alloc();
}

resp_decoder::~resp_decoder() { redisReaderFree(reader_); }

bool resp_decoder::feed(const char* data, std::size_t n) {
    if (redisReaderFeed(reader_, data, n) != REDIS_OK) {
        error_ = reader_->errstr;
        return false;
    }
    return true;
}

resp_decoder::status resp_decoder::next(redis_reply& out) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
        error_ = reader_->errstr;
        return status::protocol_error;
    }
    if (!raw) return status::need_more;
    auto* reply = static_cast<redisReply*>(raw);
    out = convert(*reply);
    freeReplyObject(reply);
    return status::reply;
}

void append_command(std::string& out, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    char* cmd = nullptr;
    int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
    if (n < 0 || !cmd) throw std::bad_alloc();  // hiredis fails only when out of memory
    out.append(cmd, static_cast<size_t>(n));
    redisFreeCommand(cmd);
}

std::string encode_command(const std::vector<std::string>& args) {
    std::string out;
    append_command(out, args);
    return out;
}

}  // namespace swapgate::redis
