#include "cache/embedding_split.hpp"

#include "cache/canonical.hpp"
#include "cache/request_key.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <numeric>
#include <unordered_map>

namespace swapgate::cache {

using nlohmann::json;

namespace {

bool is_token_array(const json& v) {
    return v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), [](const json& t) { return t.is_number_integer(); });
}

key128 input_key(std::string_view model, std::string_view ns, const json& body, const std::string& text) {
    std::string material = "[" + std::to_string(schema_version) + ",\"embedding\",";
    append_canonical_string(material, endpoint_embeddings);
    material += ',';
    append_canonical_string(material, model);
    material += ',';
    append_canonical_string(material, ns);
    material += ',';
    append_canonical_string(material, text);
    material += ',';
    json rest = json::object();
    for (const auto& [k, v] : body.items())
        if (k != "input") rest[k] = v;
    if (!rest.contains("encoding_format") || rest["encoding_format"].is_null()) rest["encoding_format"] = "float";
    append_key_body(material, rest);
    material += ']';
    return hash128(material);
}

// Splits `total` over weights with the largest-remainder method, so the parts sum to
// `total` exactly.
std::vector<std::uint64_t> apportion(std::uint64_t total, const std::vector<std::uint64_t>& weights) {
    std::vector<std::uint64_t> out(weights.size(), 0);
    if (weights.empty()) return out;
    std::uint64_t sum = std::accumulate(weights.begin(), weights.end(), std::uint64_t{0});
    std::vector<std::uint64_t> w = weights;
    if (sum == 0) {
        std::fill(w.begin(), w.end(), 1);
        sum = w.size();
    }
    std::vector<std::pair<double, std::size_t>> rema;
    std::uint64_t given = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
        double exact = static_cast<double>(total) * static_cast<double>(w[i]) / static_cast<double>(sum);
        out[i] = static_cast<std::uint64_t>(exact);
        given += out[i];
        rema.emplace_back(exact - static_cast<double>(out[i]), i);
    }
    std::stable_sort(rema.begin(), rema.end(), [](auto& a, auto& b) { return a.first > b.first; });
    for (std::size_t k = 0; given < total && k < rema.size(); ++k, ++given) ++out[rema[k].second];
    return out;
}

}  // namespace

std::string serialize_embedding(const cached_embedding& e) {
    return "{\"v\":" + std::to_string(schema_version) + ",\"t\":" + std::to_string(e.tokens) + ",\"e\":" +
           e.embedding_json + "}";
}

std::optional<cached_embedding> deserialize_embedding(std::string_view bytes) {
    auto j = json::parse(bytes, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    auto v = j.find("v"), t = j.find("t"), e = j.find("e");
    if (v == j.end() || *v != schema_version || t == j.end() || !t->is_number_unsigned() || e == j.end())
        return std::nullopt;
    if (!e->is_array() && !e->is_string()) return std::nullopt;
    return cached_embedding{e->dump(-1, ' ', false, json::error_handler_t::replace), t->get<std::uint64_t>()};
}

embedding_plan plan_embeddings(std::string_view model, std::string_view ns, const json& body) {
    embedding_plan plan;
    auto no = [&](const char* why) {
        plan.ok = false;
        plan.reason = why;
        plan.inputs.clear();
        return plan;
    };
    if (!body.is_object()) return no("body is not an object");
    auto input = body.find("input");
    if (input == body.end()) return no("no input");
    auto add = [&](const json& v, std::size_t pos) {
        embedding_input in;
        in.position = pos;
        if (v.is_string()) {
            in.cacheable = true;
            in.key = input_key(model, ns, body, v.get<std::string>());
        }
        plan.inputs.push_back(in);
    };
    if (input->is_string() || is_token_array(*input)) {
        plan.single = true;
        add(*input, 0);
    } else if (input->is_array() && !input->empty()) {
        for (std::size_t i = 0; i < input->size(); ++i) {
            const json& v = (*input)[i];
            if (!v.is_string() && !is_token_array(v)) return no("input is neither strings nor token arrays");
            add(v, i);
        }
    } else {
        return no("input is neither strings nor token arrays");
    }
    plan.ok = true;
    return plan;
}

embedding_split split_embeddings(const embedding_plan& plan, const std::vector<std::optional<cached_embedding>>& found) {
    embedding_split split;
    split.duplicate_of.assign(plan.inputs.size(), std::nullopt);
    std::unordered_map<key128, std::size_t, key128_hash> first_of;
    for (std::size_t i = 0; i < plan.inputs.size(); ++i) {
        const auto& in = plan.inputs[i];
        if (in.cacheable && i < found.size() && found[i]) continue;
        if (in.cacheable) {
            auto [it, fresh] = first_of.emplace(in.key, in.position);
            if (!fresh) {
                split.duplicate_of[i] = it->second;
                continue;
            }
        }
        split.upstream_positions.push_back(in.position);
    }
    return split;
}

json build_upstream_request(const json& body, const embedding_plan& plan, const embedding_split& split) {
    json out = body;
    const json& input = body["input"];
    if (plan.single) return out;  // one input, and it is not cached
    json list = json::array();
    for (std::size_t pos : split.upstream_positions) list.push_back(input[pos]);
    out["input"] = std::move(list);
    return out;
}

embedding_merge merge_embeddings(const embedding_plan& plan, const embedding_split& split,
                                 const std::vector<std::optional<cached_embedding>>& found, const json& body,
                                 const json* upstream, std::string_view model_name) {
    embedding_merge m;
    auto fail = [&](std::string why) {
        m.ok = false;
        m.error = std::move(why);
        return m;
    };
    const std::size_t n = plan.inputs.size();
    const json& input = body["input"];
    auto input_at = [&](std::size_t pos) -> const json& { return plan.single ? input : input[pos]; };

    std::vector<json> vectors(n);
    std::vector<std::uint64_t> tokens(n, 0);
    std::string model(model_name);

    const std::size_t up = split.upstream_positions.size();
    if (up > 0) {
        if (!upstream || !upstream->is_object()) return fail("no upstream response");
        auto data = upstream->find("data");
        if (data == upstream->end() || !data->is_array() || data->size() != up)
            return fail("upstream returned a different number of embeddings");
        std::vector<bool> seen(up, false);
        for (const auto& item : *data) {
            if (!item.is_object()) return fail("upstream embedding is not an object");
            auto idx = item.find("index");
            auto emb = item.find("embedding");
            if (idx == item.end() || !idx->is_number_unsigned() || emb == item.end())
                return fail("upstream embedding without index or vector");
            auto k = idx->get<std::size_t>();
            if (k >= up || seen[k]) return fail("upstream embedding index out of range or repeated");
            seen[k] = true;
            vectors[split.upstream_positions[k]] = *emb;
        }
        if (auto mv = upstream->find("model"); mv != upstream->end() && mv->is_string()) model = mv->get<std::string>();

        std::uint64_t total = 0;
        if (auto u = upstream->find("usage"); u != upstream->end() && u->is_object())
            if (auto p = u->find("prompt_tokens"); p != u->end() && p->is_number_unsigned()) total = p->get<std::uint64_t>();
        if (up == 1) {
            tokens[split.upstream_positions[0]] = total;
        } else {
            std::uint64_t arrays = 0;
            std::vector<std::size_t> strings;
            std::vector<std::uint64_t> weights;
            for (std::size_t pos : split.upstream_positions) {
                const json& v = input_at(pos);
                if (v.is_string()) {
                    strings.push_back(pos);
                    weights.push_back(v.get_ref<const std::string&>().size());
                } else {
                    tokens[pos] = std::min<std::uint64_t>(v.size(), total - arrays);
                    arrays += tokens[pos];
                }
            }
            auto parts = apportion(total - arrays, weights);
            for (std::size_t i = 0; i < strings.size(); ++i) tokens[strings[i]] = parts[i];
        }
    }

    std::size_t cached = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (i < found.size() && found[i] && plan.inputs[i].cacheable) {
            auto v = json::parse(found[i]->embedding_json, nullptr, false);
            if (v.is_discarded()) return fail("cached embedding is not valid JSON");
            vectors[i] = std::move(v);
            tokens[i] = found[i]->tokens;
            ++cached;
        } else if (split.duplicate_of[i]) {
            vectors[i] = vectors[*split.duplicate_of[i]];
            tokens[i] = tokens[*split.duplicate_of[i]];
        }
        if (vectors[i].is_null()) return fail("an input got no embedding");
    }

    for (std::size_t pos : split.upstream_positions)
        if (plan.inputs[pos].cacheable)
            m.to_store.emplace_back(plan.inputs[pos].key,
                                    cached_embedding{vectors[pos].dump(-1, ' ', false, json::error_handler_t::replace),
                                                     tokens[pos]});

    json data = json::array();
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
        data.push_back(json{{"object", "embedding"}, {"embedding", std::move(vectors[i])}, {"index", i}});
        sum += tokens[i];
    }
    json out = {{"object", "list"},
                {"data", std::move(data)},
                {"model", model},
                {"usage", {{"prompt_tokens", sum}, {"total_tokens", sum}}}};
    if (cached > 0) out["swapgate_cache"] = {{"cached_inputs", cached}, {"inputs", n}};
    m.response = out.dump(-1, ' ', false, json::error_handler_t::replace);
    m.ok = true;
    return m;
}

}  // namespace swapgate::cache
