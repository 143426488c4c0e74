#include "bench/sim/wire.hpp"

#include "proxy/net/http_status.hpp"

#include <charconv>

namespace swapgate::sim {
namespace {

void append_int(std::string& out, int64_t v) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, p);
}

void append_usage(std::string& out, const reply_plan& p) {
    out += R"("usage":{"prompt_tokens":)";
    append_int(out, p.prompt_tokens);
    out += R"(,"completion_tokens":)";
    append_int(out, p.completion_tokens);
    out += R"(,"total_tokens":)";
    append_int(out, p.prompt_tokens + p.completion_tokens);
    out += '}';
}

void append_prefix(std::string& out, const reply_meta& m, std::string_view object) {
    out += R"({"id":)";
    append_json_string(out, m.id);
    out += R"(,"object":")";
    out += object;
    out += R"(","created":)";
    append_int(out, m.created);
    out += R"(,"model":)";
    append_json_string(out, m.model);
    out += R"(,"system_fingerprint":")";
    out += system_fingerprint;
    out += R"(","choices":[)";
}

void append_tool_calls(std::string& out, const reply_plan& p) {
    out += R"("tool_calls":[{"id":)";
    append_json_string(out, p.tool_id);
    out += R"(,"type":"function","function":{"name":)";
    append_json_string(out, p.tool_name);
    out += R"(,"arguments":)";
    append_json_string(out, p.tool_args);
    out += "}}]";
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.data() + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    out.append(s.data() + start, s.size() - start);
    out += '"';
}

std::string_view reason_phrase(int status) { return ::swapgate::net::reason_phrase(status); }

void append_head(std::string& out, int status, std::string_view content_type, int64_t content_length,
                 bool keep_alive, std::string_view extra) {
    out += "HTTP/1.1 ";
    append_int(out, status);
    out += ' ';
    out += reason_phrase(status);
    out += "\r\nServer: swapgate-sim\r\n";
    if (!content_type.empty()) {
        out += "Content-Type: ";
        out += content_type;
        out += "\r\n";
    }
    if (content_length >= 0) {
        out += "Content-Length: ";
        append_int(out, content_length);
        out += "\r\n";
    } else {
        out += "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n";
    }
    if (!keep_alive) out += "Connection: close\r\n";
    out += extra;
    out += "\r\n";
}

std::string http_response(int status, std::string_view content_type, std::string_view body, bool keep_alive,
                          std::string_view extra) {
    std::string out;
    out.reserve(160 + extra.size() + body.size());
    append_head(out, status, content_type, static_cast<int64_t>(body.size()), keep_alive, extra);
    out += body;
    return out;
}

void append_chunk(std::string& out, std::string_view data) {
    char buf[20];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, data.size(), 16);
    out.append(buf, p);
    out += "\r\n";
    out += data;
    out += "\r\n";
}

std::string openai_error(std::string_view message, std::string_view type, std::string_view param,
                         std::string_view code) {
    std::string out = R"({"error":{"message":)";
    append_json_string(out, message);
    out += R"(,"type":)";
    append_json_string(out, type);
    out += R"(,"param":)";
    if (param.empty()) out += "null";
    else append_json_string(out, param);
    out += R"(,"code":)";
    if (code.empty()) out += "null";
    else append_json_string(out, code);
    out += "}}";
    return out;
}

std::string status_error(int status) {
    std::string message = "simulated failure: HTTP " + std::to_string(status);
    switch (status) {
    case 400: return openai_error(message, "invalid_request_error");
    case 401: return openai_error(message, "invalid_request_error", {}, "invalid_api_key");
    case 403: return openai_error(message, "permission_error");
    case 404: return openai_error(message, "invalid_request_error", {}, "not_found");
    case 429: return openai_error(message, "rate_limit_error", {}, "rate_limit_exceeded");
    case 503: return unavailable_error(message);
    default: return openai_error(message, status >= 500 ? "server_error" : "invalid_request_error");
    }
}

std::string unavailable_error(std::string_view message) {
    std::string out = R"({"error":{"code":503,"message":)";
    append_json_string(out, message);
    out += R"(,"type":"unavailable_error"}})";
    return out;
}

std::string chat_completion_body(const reply_meta& m, const reply_plan& p) {
    std::string out;
    out.reserve(320 + p.content.size() * 8 + p.reasoning.size() * 8 + p.tool_args.size());
    append_prefix(out, m, "chat.completion");
    out += R"({"index":0,"message":{"role":"assistant","content":)";
    if (p.tool_call) out += "null";
    else append_json_string(out, join(p.content));
    if (!p.reasoning.empty()) {
        out += R"(,"reasoning_content":)";
        append_json_string(out, join(p.reasoning));
    }
    if (p.tool_call) {
        out += ',';
        append_tool_calls(out, p);
    }
    out += R"(},"logprobs":null,"finish_reason":")";
    out += p.finish_reason;
    out += R"("}],)";
    append_usage(out, p);
    out += '}';
    return out;
}

std::string text_completion_body(const reply_meta& m, const reply_plan& p) {
    std::string out;
    out.reserve(320 + p.content.size() * 8);
    append_prefix(out, m, "text_completion");
    out += R"({"text":)";
    append_json_string(out, join(p.content));
    out += R"(,"index":0,"logprobs":null,"finish_reason":")";
    out += p.finish_reason;
    out += R"("}],)";
    append_usage(out, p);
    out += '}';
    return out;
}

sse_builder::sse_builder(const reply_meta& meta, const reply_plan& plan, bool chat)
    : meta_(meta), plan_(plan), chat_(chat) {
    append_prefix(prefix_, meta, chat ? "chat.completion.chunk" : "text_completion");
    event_.reserve(prefix_.size() + 160);
}

void sse_builder::begin() {
    event_ = "data: ";
    event_ += prefix_;
    event_ += chat_ ? R"({"index":0,"delta":)" : R"({"text":)";
}

void sse_builder::end_choice(std::string_view finish_reason) {
    if (chat_) event_ += R"(,"logprobs":null,"finish_reason":)";
    else event_ += R"(,"index":0,"logprobs":null,"finish_reason":)";
    if (finish_reason.empty()) {
        event_ += "null";
    } else {
        event_ += '"';
        event_ += finish_reason;
        event_ += '"';
    }
    event_ += "}]";
    if (meta_.include_usage) event_ += R"(,"usage":null)";
    event_ += "}\n\n";
}

void sse_builder::emit(std::string& out) { append_chunk(out, event_); }

void sse_builder::head(std::string& out) {
    // A tool call without reasoning opens with role and call header in one chunk (as OpenAI does).
    if (!chat_ || (plan_.tool_call && plan_.reasoning.empty())) return;
    begin();
    event_ += plan_.tool_call ? R"({"role":"assistant","content":null})" : R"({"role":"assistant","content":""})";
    end_choice({});
    emit(out);
}

void sse_builder::token(std::string& out, size_t i) {
    begin();
    if (i < plan_.reasoning.size()) {
        if (chat_) {
            event_ += R"({"reasoning_content":)";
            append_json_string(event_, plan_.reasoning[i]);
            event_ += '}';
        } else {
            append_json_string(event_, "");
        }
    } else if (i -= plan_.reasoning.size(); !plan_.tool_call) {
        if (chat_) {
            event_ += R"({"content":)";
            append_json_string(event_, plan_.content[i]);
            event_ += '}';
        } else {
            append_json_string(event_, plan_.content[i]);
        }
    } else if (i == 0) {
        event_ += plan_.reasoning.empty() ? R"({"role":"assistant","content":null,"tool_calls":[{"index":0,"id":)"
                                          : R"({"tool_calls":[{"index":0,"id":)";
        append_json_string(event_, plan_.tool_id);
        event_ += R"(,"type":"function","function":{"name":)";
        append_json_string(event_, plan_.tool_name);
        event_ += R"(,"arguments":""}}]})";
    } else {
        event_ += R"({"tool_calls":[{"index":0,"function":{"arguments":)";
        append_json_string(event_, plan_.arg_fragments[i - 1]);
        event_ += "}}]}";
    }
    end_choice({});
    emit(out);
}

void sse_builder::tail(std::string& out) {
    begin();
    event_ += chat_ ? "{}" : R"("")";
    end_choice(plan_.finish_reason);
    emit(out);
    if (meta_.include_usage) {
        event_ = "data: ";
        event_ += prefix_;
        event_ += "],";
        append_usage(event_, plan_);
        event_ += "}\n\n";
        emit(out);
    }
    append_chunk(out, "data: [DONE]\n\n");
    out += last_chunk;
}

}  // namespace swapgate::sim
