#include "bench/sim/request.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace swapgate::sim {
namespace {

using json = nlohmann::json;

std::nullopt_t fail(request_error& err, std::string message, std::string param, int status = 400) {
    err.status = status;
    err.message = std::move(message);
    err.param = std::move(param);
    err.code.clear();
    return std::nullopt;
}

// fail() for the helpers that answer bool.
bool invalid(request_error& err, std::string message, std::string param) {
    fail(err, std::move(message), std::move(param));
    return false;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Reads an optional integer field; false when present with the wrong type.
bool read_int(const json& obj, const char* key, int64_t& out) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return true;
    if (it->is_number_integer() || it->is_number_unsigned()) {
        out = it->get<int64_t>();
        return true;
    }
    if (it->is_number_float()) {
        out = static_cast<int64_t>(it->get<double>());
        return true;
    }
    return false;
}

bool parse_switches(const json& body, sim_switches& s, request_error& err) {
    auto it = body.find("sim");
    if (it == body.end() || it->is_null()) return true;
    if (!it->is_object()) return invalid(err, "'sim' must be an object", "sim");
    int64_t status = 0;
    const std::pair<const char*, int64_t*> fields[] = {
        {"tokens", &s.tokens},
        {"token_delay_ms", &s.token_delay_ms},
        {"ttft_ms", &s.ttft_ms},
        {"first_byte_delay_ms", &s.first_byte_delay_ms},
        {"status", &status},
        {"die_after_tokens", &s.die_after_tokens},
        {"stall_after_tokens", &s.stall_after_tokens},
        {"exit_after_tokens", &s.exit_after_tokens},
        {"reasoning_tokens", &s.reasoning_tokens},
    };
    for (auto [key, out] : fields)
        if (!read_int(*it, key, *out)) return invalid(err, std::string("'sim.") + key + "' must be an integer", "sim");
    if (status != 0 && (status < 100 || status > 599)) return invalid(err, "'sim.status' must be an HTTP status", "sim");
    s.status = static_cast<int>(status);
    // Bounded so a typo cannot make the sim allocate gigabytes.
    constexpr int64_t max_tokens = 1'000'000;
    s.reasoning_tokens = std::clamp<int64_t>(s.reasoning_tokens, 0, max_tokens);
    s.tokens = std::min(s.tokens, max_tokens);
    return true;
}

// Text of a message content: a string or an array of parts with "text".
int64_t content_words(const json& content) {
    if (content.is_string()) return count_words(content.get_ref<const std::string&>());
    int64_t n = 0;
    if (content.is_array())
        for (const auto& part : content) {
            auto t = part.find("text");
            if (part.is_object() && t != part.end() && t->is_string()) n += count_words(t->get_ref<const std::string&>());
        }
    return n;
}

bool parse_common(const json& body, gen_request& r, request_error& err) {
    if (auto it = body.find("model"); it != body.end() && !it->is_null()) {
        if (!it->is_string()) return invalid(err, "'model' must be a string", "model");
        r.model = it->get<std::string>();
    }
    if (auto it = body.find("stream"); it != body.end() && !it->is_null()) {
        if (!it->is_boolean()) return invalid(err, "'stream' must be a boolean", "stream");
        r.stream = it->get<bool>();
    }
    if (auto it = body.find("stream_options"); it != body.end() && it->is_object()) {
        auto u = it->find("include_usage");
        r.include_usage = u != it->end() && u->is_boolean() && u->get<bool>();
    }
    if (!read_int(body, "max_tokens", r.max_tokens)) return invalid(err, "'max_tokens' must be an integer", "max_tokens");
    if (!read_int(body, "max_completion_tokens", r.max_tokens))
        return invalid(err, "'max_completion_tokens' must be an integer", "max_completion_tokens");
    if (auto it = body.find("seed"); it != body.end() && !it->is_null()) r.seed = dump(*it);
    return parse_switches(body, r.sim, err);
}

void parse_tools(const json& body, const json& messages, gen_request& r) {
    auto tools = body.find("tools");
    if (tools == body.end() || !tools->is_array() || tools->empty()) return;
    if (!messages.empty() && messages.back().is_object()) {
        auto role = messages.back().find("role");
        if (role != messages.back().end() && *role == "tool") return;
    }
    const json* chosen = &(*tools)[0];
    if (auto tc = body.find("tool_choice"); tc != body.end()) {
        if (tc->is_string() && *tc == "none") return;
        if (tc->is_object()) {
            auto fn = tc->find("function");
            if (fn != tc->end() && fn->is_object() && fn->contains("name"))
                for (const auto& t : *tools)
                    if (t.is_object() && t.contains("function") && t["function"].is_object() &&
                        t["function"].value("name", json()) == (*fn)["name"])
                        chosen = &t;
        }
    }
    r.tool_call = true;
    r.tool_name = "tool";
    if (!chosen->is_object()) return;
    auto fn = chosen->find("function");
    if (fn == chosen->end() || !fn->is_object()) return;
    if (auto name = fn->find("name"); name != fn->end() && name->is_string()) r.tool_name = name->get<std::string>();
    auto params = fn->find("parameters");
    if (params == fn->end() || !params->is_object()) return;
    auto props = params->find("properties");
    if (props == params->end() || !props->is_object()) return;
    for (const auto& [name, schema] : props->items()) {
        if (r.tool_params.size() == 6) break;
        std::string type = "string";
        if (schema.is_object())
            if (auto t = schema.find("type"); t != schema.end() && t->is_string()) type = t->get<std::string>();
        r.tool_params.push_back({name, type});
    }
}

}  // namespace

int64_t count_words(std::string_view s) {
    int64_t n = 0;
    bool in_word = false;
    for (unsigned char c : s) {
        bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
        if (!space && !in_word) ++n;
        in_word = !space;
    }
    return n;
}

std::optional<gen_request> parse_gen_request(std::string_view body_text, endpoint kind, request_error& err) {
    json body = json::parse(body_text, nullptr, false);
    if (body.is_discarded()) return fail(err, "request body is not valid JSON", "");
    if (!body.is_object()) return fail(err, "request body must be a JSON object", "");
    gen_request r;
    r.kind = kind;
    if (!parse_common(body, r, err)) return std::nullopt;
    if (kind == endpoint::chat) {
        auto messages = body.find("messages");
        if (messages == body.end()) return fail(err, "'messages' is required", "messages");
        if (!messages->is_array() || messages->empty())
            return fail(err, "'messages' must be a non-empty array", "messages");
        for (const auto& m : *messages) {
            if (!m.is_object()) return fail(err, "each message must be an object", "messages");
            if (auto c = m.find("content"); c != m.end()) r.prompt_tokens += content_words(*c);
            r.prompt_tokens += 4;
        }
        r.canonical_input = dump(*messages);
        parse_tools(body, *messages, r);
    } else {
        auto prompt = body.find("prompt");
        if (prompt == body.end() || prompt->is_null()) return fail(err, "'prompt' is required", "prompt");
        if (prompt->is_string()) {
            r.prompt_tokens = count_words(prompt->get_ref<const std::string&>());
        } else if (prompt->is_array()) {
            for (const auto& p : *prompt) {
                if (p.is_string()) r.prompt_tokens += count_words(p.get_ref<const std::string&>());
                else if (p.is_number_integer()) r.prompt_tokens += 1;
                else if (p.is_array()) r.prompt_tokens += static_cast<int64_t>(p.size());
                else return fail(err, "'prompt' must be a string or an array", "prompt");
            }
        } else {
            return fail(err, "'prompt' must be a string or an array", "prompt");
        }
        r.canonical_input = dump(*prompt);
    }
    return r;
}

std::optional<embed_request> parse_embed_request(std::string_view body_text, request_error& err) {
    json body = json::parse(body_text, nullptr, false);
    if (body.is_discarded()) return fail(err, "request body is not valid JSON", "");
    if (!body.is_object()) return fail(err, "request body must be a JSON object", "");
    embed_request r;
    if (auto it = body.find("model"); it != body.end() && !it->is_null()) {
        if (!it->is_string()) return fail(err, "'model' must be a string", "model");
        r.model = it->get<std::string>();
    }
    if (auto it = body.find("encoding_format"); it != body.end() && !it->is_null()) {
        if (*it == "base64") r.base64 = true;
        else if (*it != "float") return fail(err, "'encoding_format' must be \"float\" or \"base64\"", "encoding_format");
    }
    if (!parse_switches(body, r.sim, err)) return std::nullopt;
    auto input = body.find("input");
    if (input == body.end() || input->is_null()) return fail(err, "'input' is required", "input");
    auto tokens_text = [&](const json& arr, std::string& out) {
        for (const auto& t : arr) {
            if (!t.is_number_integer()) return false;
            out += out.empty() ? "t" : " t";
            out += std::to_string(t.get<int64_t>());
            ++r.prompt_tokens;
        }
        return true;
    };
    if (input->is_string()) {
        r.items.push_back(input->get<std::string>());
        r.prompt_tokens = count_words(r.items.back());
    } else if (input->is_array() && !input->empty()) {
        const json& first = (*input)[0];
        if (first.is_number_integer()) {
            std::string text;
            if (!tokens_text(*input, text)) return fail(err, "'input' mixes token ids and other values", "input");
            r.items.push_back(std::move(text));
        } else {
            r.items.reserve(input->size());
            for (const auto& item : *input) {
                if (item.is_string()) {
                    r.items.push_back(item.get<std::string>());
                    r.prompt_tokens += count_words(r.items.back());
                } else if (item.is_array()) {
                    std::string text;
                    if (!tokens_text(item, text)) return fail(err, "token arrays must hold integers", "input");
                    r.items.push_back(std::move(text));
                } else {
                    return fail(err, "'input' items must be strings or token arrays", "input");
                }
            }
        }
    } else {
        return fail(err, "'input' must be a string or a non-empty array", "input");
    }
    return r;
}

}  // namespace swapgate::sim
