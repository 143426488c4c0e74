#include "cache/recorder.hpp"

#include "cache/record_data.hpp"

#include <algorithm>

namespace swapgate::cache {

using nlohmann::json;

namespace {

enum class source { none, response, stream };

bool accepted_finish(const std::string& r) {
    return r == "stop" || r == "length" || r == "tool_calls" || r == "function_call";
}

bool is_envelope_field(const std::string& k) {
    return k == "id" || k == "object" || k == "created" || k == "model" || k == "choices" || k == "usage" ||
           k == "obfuscation";
}

// Merges a streamed fragment into what has been assembled so far: strings
// concatenate, objects merge member by member, arrays append, null never erases.
void merge_value(json& into, const json& piece) {
    if (piece.is_null()) {
        return;
    } else if (piece.is_string() && into.is_string()) {
        into.get_ref<std::string&>() += piece.get_ref<const std::string&>();
    } else if (piece.is_object() && into.is_object()) {
        for (const auto& [k, v] : piece.items()) {
            if (into.contains(k)) merge_value(into[k], v);
            else into[k] = v;
        }
    } else if (piece.is_array() && into.is_array()) {
        for (const auto& e : piece) into.push_back(e);
    } else {
        into = piece;
    }
}

// Identity members (id, type, name) arrive once, in the first fragment; some
// servers repeat them, so only the first non-empty value counts. Arguments concatenate.
void merge_call(json& call, const json& piece) {
    for (const auto& [k, v] : piece.items()) {
        if (k == "index") continue;
        if (k == "function" && v.is_object()) {
            if (!call.contains("function") || !call["function"].is_object()) call["function"] = json::object();
            merge_call(call["function"], v);
        } else if (k == "arguments" && v.is_string()) {
            if (call.contains(k) && call[k].is_string()) call[k].get_ref<std::string&>() += v.get_ref<const std::string&>();
            else call[k] = v;
        } else if (!call.contains(k) || call[k].is_null() || (call[k].is_string() && call[k].get_ref<const std::string&>().empty())) {
            call[k] = v;
        }
    }
}

}  // namespace

struct completion_recorder::state {
    std::size_t max_bytes;
    source src = source::none;
    bool done = false;     // [DONE] seen
    bool spent = false;
    std::string failure;   // first reason the completion cannot be stored
    bool kind_known = false;
    std::shared_ptr<detail::record_data> d = std::make_shared<detail::record_data>();
    // Per choice index: tool calls by their stream index.
    std::map<int, std::map<int, json>> calls;

    void fail(std::string why) {
        if (failure.empty()) failure = std::move(why);
        d->chunks.clear();  // nothing will be stored: free the memory now
        d->chunks.shrink_to_fit();
        d->body = nullptr;
    }

    bool account(std::size_t bytes) {
        d->source_bytes += bytes;
        if (d->source_bytes > max_bytes) {
            fail("larger than the maximum entry size");
            return false;
        }
        return true;
    }

    bool set_kind(const json& j, bool stream) {
        bool chat;
        auto obj = j.find("object");
        std::string o = obj != j.end() && obj->is_string() ? obj->get<std::string>() : "";
        if (o == (stream ? "chat.completion.chunk" : "chat.completion")) chat = true;
        else if (o == "text_completion") chat = false;
        else if (!o.empty()) return fail("unexpected object '" + o + "'"), false;
        else {
            // Some servers leave `object` out; tell by the choices' shape.
            chat = true;
            if (auto c = j.find("choices"); c != j.end() && c->is_array())
                for (const auto& ch : *c)
                    if (ch.is_object() && ch.contains("text")) chat = false;
        }
        if (kind_known && chat != d->chat) return fail("chunks of different object types"), false;
        d->chat = chat;
        kind_known = true;
        return true;
    }

    void take_header(const json& j) {
        if (d->id.empty())
            if (auto v = j.find("id"); v != j.end() && v->is_string()) d->id = v->get<std::string>();
        if (d->model.empty())
            if (auto v = j.find("model"); v != j.end() && v->is_string()) d->model = v->get<std::string>();
        if (d->created == 0)
            if (auto v = j.find("created"); v != j.end() && v->is_number_integer()) d->created = v->get<std::int64_t>();
        if (auto u = j.find("usage"); u != j.end() && u->is_object()) d->usage = *u;
        for (const auto& [k, v] : j.items())
            if (!is_envelope_field(k)) d->top[k] = v;
    }

    detail::choice_data& choice(int index) {
        auto it = std::find_if(d->choices.begin(), d->choices.end(), [&](const auto& c) { return c.index == index; });
        if (it != d->choices.end()) return *it;
        detail::choice_data c;
        c.index = index;
        auto pos = std::upper_bound(d->choices.begin(), d->choices.end(), index,
                                    [](int i, const auto& e) { return i < e.index; });
        return *d->choices.insert(pos, std::move(c));
    }

    // Members of a choice other than its payload: finish_reason and extras.
    bool take_choice_meta(detail::choice_data& c, const json& ch) {
        for (const auto& [k, v] : ch.items()) {
            if (k == "index" || k == "delta" || k == "message" || k == "text") continue;
            if (k == "finish_reason") {
                if (v.is_string()) c.finish_reason = v.get<std::string>();
                continue;
            }
            if (k == "logprobs" && !v.is_null()) return fail("logprobs are not cached"), false;
            c.extras[k] = v;
        }
        return true;
    }

    void merge_delta(detail::choice_data& c, const json& delta) {
        for (const auto& [k, v] : delta.items()) {
            if (k == "role") {
                if (v.is_string()) c.message["role"] = v;
            } else if (k == "tool_calls" && v.is_array()) {
                auto& calls_of = calls[c.index];
                for (const auto& piece : v) {
                    if (!piece.is_object()) continue;
                    int idx = static_cast<int>(calls_of.size());
                    if (auto i = piece.find("index"); i != piece.end() && i->is_number_integer()) idx = i->get<int>();
                    auto [it, fresh] = calls_of.try_emplace(idx, json::object());
                    merge_call(it->second, piece);
                }
            } else if (k == "function_call" && v.is_object()) {
                if (!c.message.contains(k) || !c.message[k].is_object()) c.message[k] = json::object();
                merge_call(c.message[k], v);
            } else if (!c.message.contains(k)) {
                c.message[k] = v;
            } else if (c.message[k].is_null()) {
                if (!v.is_null()) c.message[k] = v;
            } else {
                merge_value(c.message[k], v);
            }
        }
    }
};

completion_recorder::completion_recorder(std::size_t max_bytes) : s_(std::make_unique<state>()) {
    s_->max_bytes = max_bytes;
}
completion_recorder::~completion_recorder() = default;
completion_recorder::completion_recorder(completion_recorder&&) noexcept = default;
completion_recorder& completion_recorder::operator=(completion_recorder&&) noexcept = default;

void completion_recorder::fail(std::string_view why) { s_->fail(std::string(why)); }

void completion_recorder::feed_response(std::string_view body) {
    auto j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return s_->fail("response is not valid JSON");
    feed_response_json(j, body.size());
}

void completion_recorder::feed_response_json(const json& body, std::size_t raw_bytes) {
    auto& s = *s_;
    if (s.src != source::none) return s.fail("more than one response");
    s.src = source::response;
    if (!s.account(raw_bytes)) return;
    if (!body.is_object()) return s.fail("response is not an object");
    if (body.contains("error")) return s.fail("error response");
    if (!s.set_kind(body, false)) return;
    auto choices = body.find("choices");
    if (choices == body.end() || !choices->is_array()) return s.fail("response has no choices");
    s.take_header(body);
    for (const auto& ch : *choices) {
        if (!ch.is_object()) return s.fail("choice is not an object");
        int idx = static_cast<int>(s.d->choices.size());
        if (auto i = ch.find("index"); i != ch.end() && i->is_number_integer()) idx = i->get<int>();
        auto& c = s.choice(idx);
        if (!s.take_choice_meta(c, ch)) return;
        if (s.d->chat) {
            auto m = ch.find("message");
            if (m == ch.end() || !m->is_object()) return s.fail("choice has no message");
            c.message = *m;
        } else {
            auto t = ch.find("text");
            if (t == ch.end() || !t->is_string()) return s.fail("choice has no text");
            c.text = t->get<std::string>();
        }
    }
    s.d->from_stream = false;
    s.d->body = body;
}

void completion_recorder::feed_event(std::string_view data) {
    auto& s = *s_;
    std::string_view trimmed = data;
    while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\n' || trimmed.back() == '\r'))
        trimmed.remove_suffix(1);
    if (trimmed == "[DONE]") {
        if (s.src != source::stream && s.src != source::none) return s.fail("[DONE] in a non-stream response");
        if (s.done) return s.fail("[DONE] twice");
        s.src = source::stream;
        s.done = true;
        return;
    }
    auto j = json::parse(data, nullptr, false);
    if (j.is_discarded()) return s.fail("stream chunk is not valid JSON");
    feed_chunk_json(j, data.size());
}

void completion_recorder::feed_chunk_json(const json& chunk, std::size_t raw_bytes) {
    auto& s = *s_;
    if (s.src == source::response) return s.fail("stream chunk after a response");
    s.src = source::stream;
    if (!s.failure.empty()) return;
    if (s.done) return s.fail("data after [DONE]");
    if (!s.account(raw_bytes)) return;
    if (!chunk.is_object()) return s.fail("stream chunk is not an object");
    if (chunk.contains("error")) return s.fail("error in stream");
    auto choices = chunk.find("choices");
    if (choices == chunk.end() || !choices->is_array()) return s.fail("stream chunk has no choices");
    if (!choices->empty() && !s.set_kind(chunk, true)) return;

    auto& d = *s.d;
    if (d.chunks.empty()) {
        d.envelope = chunk;
        d.envelope.erase("choices");
    }
    detail::stored_chunk stored;
    stored.choices = *choices;
    for (const auto& [k, v] : chunk.items()) {
        if (k == "choices") continue;
        auto e = d.envelope.find(k);
        if (e == d.envelope.end() || *e != v) stored.diff[k] = v;
    }
    for (const auto& [k, v] : d.envelope.items())
        if (!chunk.contains(k)) stored.absent.push_back(k);
    d.chunks.push_back(std::move(stored));
    s.take_header(chunk);

    for (const auto& ch : *choices) {
        if (!ch.is_object()) return s.fail("choice is not an object");
        int idx = 0;
        if (auto i = ch.find("index"); i != ch.end() && i->is_number_integer()) idx = i->get<int>();
        auto& c = s.choice(idx);
        if (!s.take_choice_meta(c, ch)) return;
        if (d.chat) {
            if (auto delta = ch.find("delta"); delta != ch.end() && delta->is_object()) s.merge_delta(c, *delta);
        } else if (auto t = ch.find("text"); t != ch.end() && t->is_string()) {
            c.text += t->get_ref<const std::string&>();
        }
    }
}

bool completion_recorder::complete() const { return why_incomplete().empty(); }

std::string completion_recorder::why_incomplete() const {
    const auto& s = *s_;
    if (s.spent) return "recorder already finished";
    if (!s.failure.empty()) return s.failure;
    if (s.src == source::none) return "nothing recorded";
    if (s.src == source::stream && !s.done) return "stream ended without [DONE]";
    if (s.d->choices.empty()) return "no choices";
    for (const auto& c : s.d->choices) {
        if (c.finish_reason.empty()) return "a choice has no finish_reason";
        if (!accepted_finish(c.finish_reason)) return "finish_reason '" + c.finish_reason + "'";
    }
    return {};
}

std::optional<completion_record> completion_recorder::finish() {
    if (!complete()) return std::nullopt;
    auto& s = *s_;
    auto& d = *s.d;
    d.from_stream = s.src == source::stream;
    if (d.from_stream && d.chat) {
        for (auto& c : d.choices) {
            if (!c.message.contains("role")) c.message["role"] = "assistant";
            if (!c.message.contains("content")) c.message["content"] = nullptr;
            auto it = s.calls.find(c.index);
            if (it == s.calls.end() || it->second.empty()) continue;
            json arr = json::array();
            for (auto& [idx, call] : it->second) arr.push_back(std::move(call));  // ordered by stream index
            c.message["tool_calls"] = std::move(arr);
        }
    }
    s.spent = true;
    return completion_record(std::move(s.d));
}

}  // namespace swapgate::cache
