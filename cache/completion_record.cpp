#include "cache/completion_record.hpp"

#include "cache/record_data.hpp"
#include "cache/recorder.hpp"
#include "cache/request_key.hpp"

namespace swapgate::cache {

namespace detail {

nlohmann::json expand_chunk(const nlohmann::json& envelope, const stored_chunk& c) {
    nlohmann::json out = envelope.is_object() ? envelope : nlohmann::json::object();
    for (const auto& name : c.absent) out.erase(name);
    for (const auto& [k, v] : c.diff.items()) out[k] = v;
    out["choices"] = c.choices;
    return out;
}

}  // namespace detail

completion_record::completion_record(std::shared_ptr<const detail::record_data> data) : data_(std::move(data)) {}

bool completion_record::chat() const { return data_->chat; }
bool completion_record::from_stream() const { return data_->from_stream; }
bool completion_record::has_usage() const { return data_->usage.is_object(); }
std::size_t completion_record::choice_count() const { return data_->choices.size(); }
std::string completion_record::finish_reason(std::size_t choice) const {
    return choice < data_->choices.size() ? data_->choices[choice].finish_reason : std::string{};
}

std::optional<std::string> serialize_record(const completion_record& record, std::size_t max_bytes) {
    const auto& d = record.data();
    nlohmann::json out = {{"v", schema_version}};
    if (!d.from_stream) {
        out["src"] = "response";
        out["body"] = d.body;
    } else {
        out["src"] = "stream";
        out["env"] = d.envelope;
        nlohmann::json chunks = nlohmann::json::array();
        for (const auto& c : d.chunks) {
            nlohmann::json e = {{"c", c.choices}};
            if (!c.diff.empty()) e["d"] = c.diff;
            if (!c.absent.empty()) e["a"] = c.absent;
            chunks.push_back(std::move(e));
        }
        out["chunks"] = std::move(chunks);
    }
    std::string bytes = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (bytes.size() > max_bytes) return std::nullopt;
    return bytes;
}

std::optional<completion_record> deserialize_record(std::string_view bytes) {
    auto j = nlohmann::json::parse(bytes, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    auto v = j.find("v");
    if (v == j.end() || !v->is_number_integer() || v->get<int>() != schema_version) return std::nullopt;
    auto src = j.find("src");
    if (src == j.end() || !src->is_string()) return std::nullopt;

    completion_recorder rec;
    if (*src == "response") {
        auto body = j.find("body");
        if (body == j.end()) return std::nullopt;
        rec.feed_response_json(*body, bytes.size());
    } else if (*src == "stream") {
        auto env = j.find("env");
        auto chunks = j.find("chunks");
        if (env == j.end() || chunks == j.end() || !chunks->is_array()) return std::nullopt;
        for (const auto& e : *chunks) {
            if (!e.is_object() || !e.contains("c")) return std::nullopt;
            detail::stored_chunk c;
            c.choices = e["c"];
            if (auto d = e.find("d"); d != e.end() && d->is_object()) c.diff = *d;
            if (auto a = e.find("a"); a != e.end() && a->is_array())
                for (const auto& name : *a)
                    if (name.is_string()) c.absent.push_back(name.get<std::string>());
            rec.feed_chunk_json(detail::expand_chunk(*env, c), 0);
        }
        rec.feed_event("[DONE]");
    } else {
        return std::nullopt;
    }
    return rec.finish();
}

}  // namespace swapgate::cache
