#include "cache/replay.hpp"

#include "cache/record_data.hpp"

#include <array>

namespace swapgate::cache {

using nlohmann::json;

namespace {

// Streamed as text pieces, in this order (models think before they answer).
constexpr std::array<const char*, 4> text_fields = {"reasoning_content", "reasoning", "content", "refusal"};
// Top-level members every OpenAI chunk repeats; other extras (llama-server's
// timings) ride on the final chunk only.
constexpr std::array<const char*, 2> per_chunk_fields = {"system_fingerprint", "service_tier"};

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_text_field(const std::string& k) {
    for (const char* f : text_fields)
        if (k == f) return true;
    return false;
}

void apply_overrides(json& j, const replay_options& o) {
    if (!o.id.empty()) j["id"] = o.id;
    if (!o.model.empty()) j["model"] = o.model;
    if (o.created) j["created"] = *o.created;
}

json header(const detail::record_data& d, const char* object) {
    return json{{"id", d.id}, {"object", object}, {"created", d.created}, {"model", d.model}};
}

// ---- non-stream from a stream -------------------------------------------------

json response_from_stream(const detail::record_data& d) {
    json out = header(d, d.chat ? "chat.completion" : "text_completion");
    for (const auto& [k, v] : d.top.items()) out[k] = v;
    json choices = json::array();
    for (const auto& c : d.choices) {
        json ch = c.extras;
        ch["index"] = c.index;
        ch["finish_reason"] = c.finish_reason;
        if (d.chat) ch["message"] = c.message;
        else ch["text"] = c.text;
        choices.push_back(std::move(ch));
    }
    out["choices"] = std::move(choices);
    out["usage"] = d.usage;
    return out;
}

// ---- stream from a non-stream response ----------------------------------------

struct chunk_builder {
    const detail::record_data& d;
    const replay_options& o;
    json envelope;
    std::vector<json> out;

    chunk_builder(const detail::record_data& data, const replay_options& opts) : d(data), o(opts) {
        envelope = header(d, d.chat ? "chat.completion.chunk" : "text_completion");
        for (const char* f : per_chunk_fields)
            if (auto it = d.top.find(f); it != d.top.end()) envelope[f] = *it;
        if (o.include_usage) envelope["usage"] = nullptr;  // as OpenAI sends it
    }

    void emit(const detail::choice_data& c, json payload, const json& finish = nullptr) {
        json ch = c.extras;
        ch["index"] = c.index;
        ch["finish_reason"] = finish;
        for (auto& [k, v] : payload.items()) ch[k] = std::move(v);
        json chunk = envelope;
        chunk["choices"] = json::array({std::move(ch)});
        out.push_back(std::move(chunk));
    }

    void delta(const detail::choice_data& c, json dl) { emit(c, json{{"delta", std::move(dl)}}); }

    void chat_choice(const detail::choice_data& c) {
        const json& m = c.message;
        json first = {{"role", m.value("role", std::string("assistant"))}};
        first["content"] = m.contains("content") && m["content"].is_null() ? json(nullptr) : json("");
        for (const auto& [k, v] : m.items()) {
            if (k == "role" || k == "content" || k == "tool_calls" || k == "function_call") continue;
            if (is_text_field(k) && v.is_string() && !v.get_ref<const std::string&>().empty()) continue;
            first[k] = v;  // null/empty text fields and non-text members (annotations, audio, ...)
        }
        delta(c, std::move(first));
        for (const char* f : text_fields) {
            auto it = m.find(f);
            if (it == m.end() || !it->is_string()) continue;
            for (auto& piece : split_text_pieces(it->get<std::string>())) delta(c, json{{f, std::move(piece)}});
        }
        if (auto tc = m.find("tool_calls"); tc != m.end() && tc->is_array()) {
            int index = 0;
            for (const auto& call : *tc) {
                json head = {{"index", index}};
                for (const auto& [k, v] : call.items())
                    if (k != "function") head[k] = v;
                json fn = call.contains("function") && call["function"].is_object() ? call["function"] : json::object();
                std::string args = fn.value("arguments", std::string());
                fn["arguments"] = "";
                head["function"] = fn;
                delta(c, json{{"tool_calls", json::array({head})}});
                for (auto& piece : split_text_pieces(args))
                    delta(c, json{{"tool_calls", json::array({{{"index", index}, {"function", {{"arguments", piece}}}}})}});
                ++index;
            }
        }
        if (auto fc = m.find("function_call"); fc != m.end() && fc->is_object()) {
            json head = *fc;
            std::string args = head.value("arguments", std::string());
            head["arguments"] = "";
            delta(c, json{{"function_call", head}});
            for (auto& piece : split_text_pieces(args)) delta(c, json{{"function_call", {{"arguments", piece}}}});
        }
        emit(c, json{{"delta", json::object()}}, c.finish_reason);
    }

    void text_choice(const detail::choice_data& c) {
        for (auto& piece : split_text_pieces(c.text)) emit(c, json{{"text", std::move(piece)}});
        emit(c, json{{"text", ""}}, c.finish_reason);
    }

    std::vector<json> build() {
        for (const auto& c : d.choices) d.chat ? chat_choice(c) : text_choice(c);
        if (o.include_usage && d.usage.is_object()) {
            json u = envelope;
            u["choices"] = json::array();
            u["usage"] = d.usage;
            out.push_back(std::move(u));
        }
        // The remaining top-level extras (e.g. timings) go on the final chunk.
        if (!out.empty())
            for (const auto& [k, v] : d.top.items())
                if (!envelope.contains(k)) out.back()[k] = v;
        return std::move(out);
    }
};

// ---- stream from a stream -----------------------------------------------------

std::vector<json> stream_from_stream(const detail::record_data& d, bool include_usage) {
    std::vector<json> out;
    bool usage_sent = false;
    for (const auto& c : d.chunks) {
        json chunk = detail::expand_chunk(d.envelope, c);
        bool usage_only = chunk["choices"].empty();
        bool has_usage = chunk.contains("usage") && chunk["usage"].is_object();
        if (!include_usage) {
            if (usage_only) continue;  // the choices-[] chunk exists only for usage
            chunk.erase("usage");
        } else if (has_usage) {
            usage_sent = true;
        }
        out.push_back(std::move(chunk));
    }
    if (include_usage && !usage_sent && d.usage.is_object()) {
        json u = d.envelope;
        u["choices"] = json::array();
        u["usage"] = d.usage;
        out.push_back(std::move(u));
    }
    return out;
}

}  // namespace

std::vector<std::string> split_text_pieces(const std::string& text, std::size_t max_piece) {
    std::vector<std::string> pieces;
    if (max_piece < 4) max_piece = 4;
    std::string cur;
    auto flush = [&] {
        if (!cur.empty()) pieces.push_back(std::move(cur));
        cur.clear();
    };
    std::size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        // A new piece starts at whitespace that follows non-whitespace.
        if (is_space(c) && !cur.empty() && !is_space(static_cast<unsigned char>(cur.back()))) flush();
        std::size_t n = 1;
        while (i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;
        if (cur.size() + n > max_piece) flush();
        cur.append(text, i, n);
        i += n;
    }
    flush();
    return pieces;
}

bool replayable(const completion_record& record, bool as_stream, bool include_usage) {
    if (!as_stream || include_usage) return record.has_usage();
    return true;
}

json to_response_json(const completion_record& record, const replay_options& options) {
    const auto& d = record.data();
    json out = d.from_stream ? response_from_stream(d) : d.body;
    if (!out.contains("usage")) out["usage"] = d.usage;
    apply_overrides(out, options);
    if (!options.marker.empty()) out["swapgate_cache"] = options.marker;
    return out;
}

std::vector<json> to_stream_chunks(const completion_record& record, const replay_options& options) {
    const auto& d = record.data();
    std::vector<json> chunks =
        d.from_stream ? stream_from_stream(d, options.include_usage) : chunk_builder(d, options).build();
    for (auto& c : chunks) apply_overrides(c, options);
    if (!options.marker.empty() && !chunks.empty()) chunks.back()["swapgate_cache"] = options.marker;
    return chunks;
}

std::vector<std::string> to_sse_events(const completion_record& record, const replay_options& options) {
    std::vector<std::string> events;
    for (const auto& c : to_stream_chunks(record, options))
        events.push_back("data: " + c.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n");
    events.push_back("data: [DONE]\n\n");
    return events;
}

}  // namespace swapgate::cache
