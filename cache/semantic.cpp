#include "cache/semantic.hpp"

#include "cache/canonical.hpp"
#include "cache/request_key.hpp"
#include "cache/text_normalize.hpp"

#include <nlohmann/json.hpp>

namespace swapgate::cache {
namespace {

using nlohmann::json;

// The final message's text, or false when it is not plain text.
bool message_text(const json& content, std::string& text) {
    if (content.is_string()) {
        text = content.get<std::string>();
        return true;
    }
    if (!content.is_array() || content.empty()) return false;
    text.clear();
    bool first = true;
    for (const auto& part : content) {
        if (!part.is_object() || part.value("type", std::string()) != "text") return false;
        auto t = part.find("text");
        if (t == part.end() || !t->is_string()) return false;
        if (!first) text += '\n';
        first = false;
        text += t->get_ref<const std::string&>();
    }
    return true;
}

}  // namespace

semantic_plan_result semantic_plan(std::string_view endpoint, std::string_view resolved_model_id,
                                   std::string_view ns, const json& body, const semantic_settings& settings) {
    semantic_plan_result r;
    auto no = [&](std::string why) {
        r.eligible = false;
        r.reason = std::move(why);
        r.text_to_embed.clear();
        return r;
    };
    if (!settings.enabled) return no("semantic tier disabled");
    if (endpoint != endpoint_chat) return no("semantic tier is for chat completions only");
    if (!body.is_object()) return no("body is not an object");
    auto msgs = body.find("messages");
    if (msgs == body.end() || !msgs->is_array() || msgs->empty()) return no("no messages");
    const json& last = msgs->back();
    if (!last.is_object() || last.value("role", std::string()) != "user") return no("final message is not from the user");
    auto content = last.find("content");
    std::string raw;
    if (content == last.end() || !message_text(*content, raw)) return no("final message is not plain text");

    std::size_t turns = 0;
    for (const auto& m : *msgs)
        if (m.is_object() && m.value("role", std::string()) == "user") ++turns;
    if (turns > settings.max_turns) return no("conversation longer than max_turns");

    std::string text = normalize_text(raw);
    std::size_t chars = count_code_points(text);
    if (chars < settings.min_chars) return no("final message shorter than min_chars");
    if (chars > settings.max_chars) return no("final message longer than max_chars");

    json reduced = body;
    reduced["messages"].back().erase("content");
    std::string material = "[" + std::to_string(schema_version) + ",\"semantic\",";
    append_canonical_string(material, endpoint);
    material += ',';
    append_canonical_string(material, resolved_model_id);
    material += ',';
    append_canonical_string(material, ns);
    material += ',';
    append_canonical_string(material, settings.embedding_model);
    material += ',';
    append_key_body(material, reduced);
    material += ']';

    r.eligible = true;
    r.partition_key = hash128(material);
    r.text_to_embed = std::move(text);
    return r;
}

}  // namespace swapgate::cache
