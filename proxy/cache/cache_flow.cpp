#include "proxy/cache/cache_flow.hpp"

#include "cache/completion_record.hpp"
#include "cache/embedding_split.hpp"
#include "cache/replay.hpp"
#include "cache/request_key.hpp"
#include "proxy/cache/response_cache.hpp"
#include "proxy/cache/semantic_tier.hpp"
#include "proxy/json_scan.hpp"

#include <nlohmann/json.hpp>

namespace swapgate::proxy {

using json = nlohmann::json;

struct cache_context::embed_state {
    json body;
    cache::embedding_plan plan;
    cache::embedding_split split;
    std::vector<std::optional<cache::cached_embedding>> found;
    std::string model_name;
    std::chrono::milliseconds ttl{0};
    bool passthrough = false;  // the upstream's answer goes to the client as it is
};

namespace {

std::string_view endpoint_key(endpoint ep) {
    switch (ep) {
        case endpoint::chat: return cache::endpoint_chat;
        case endpoint::completions: return cache::endpoint_completions;
        default: return cache::endpoint_embeddings;
    }
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

const char* result_label(cache::cache_status s) {
    switch (s) {
        case cache::cache_status::hit: return "hit";
        case cache::cache_status::semantic_hit: return "semantic_hit";
        case cache::cache_status::bypass: return "bypass";
        case cache::cache_status::off: return "off";
        default: return "miss";
    }
}

// The headers of an answer from the cache.
header_list hit_headers(const cache_context& cc, const std::string& header) {
    header_list h{{"X-Swapgate-Cache", header}};
    if (cc.extra) h.insert(h.end(), cc.extra->begin(), cc.extra->end());
    if (cc.client_stream) h.emplace_back("Cache-Control", "no-cache");
    return h;
}

// The record rendered in the form the client asked for: a JSON body, or all SSE events.
std::string render(const cache::completion_record& r, const cache_context& cc, std::string marker) {
    cache::replay_options o;
    o.include_usage = cc.include_usage;
    o.marker = std::move(marker);
    if (!cc.client_stream) return dump(cache::to_response_json(r, o));
    std::string events;
    for (auto& e : cache::to_sse_events(r, o)) events += e;
    return events;
}

// Sends a rendered answer from the cache.
net::awaitable<void> send_rendered(client_conn& conn, const cache_context& cc, const header_list& h,
                                   std::string_view bytes) {
    if (!cc.client_stream) {
        co_await conn.send(200, "application/json", bytes, h);
        co_return;
    }
    if (auto ec = co_await conn.start_stream(200, "text/event-stream", h)) co_return;
    co_await conn.send_chunk(bytes, true);
}

void note_hit(request_record& rec, const std::string& header) {
    rec.status = 200;
    rec.cache = header;
    rec.ttfb_ms = 0;
}

// Answers from a stored record, in the form the client asked for.
net::awaitable<void> replay(client_conn& conn, const cache::completion_record& r, const cache_context& cc,
                            const std::string& header, request_record& rec, std::string marker) {
    note_hit(rec, header);
    std::string bytes = render(r, cc, std::move(marker));
    co_await send_rendered(conn, cc, hit_headers(cc, header), bytes);
}

net::awaitable<bool> embeddings_prepare(proxy_state& st, client_conn& conn, const config::model& model,
                                        request_record& rec, cache_context& cc, json body, std::string ns) {
    auto& rc = *st.cache;
    auto plan = cache::plan_embeddings(rc.model_identity(&model), ns, body);
    if (!plan.ok) {
        cc.header = cache::status_header_value(cache::cache_status::bypass);
        co_return false;
    }
    std::vector<std::optional<cache::cached_embedding>> found(plan.inputs.size());
    if (cc.decision.lookup) {
        std::vector<std::string> keys;
        std::vector<size_t> slot;
        for (size_t i = 0; i < plan.inputs.size(); ++i)
            if (plan.inputs[i].cacheable) {
                keys.push_back(plan.inputs[i].key.hex());
                slot.push_back(i);
            }
        auto got = co_await rc.get_many(std::string("e"), keys);  // (GCC 12: no literals for coroutine strings)
        for (size_t k = 0; k < got.size(); ++k)
            if (got[k]) found[slot[k]] = cache::deserialize_embedding(*got[k]);
    }
    auto split = cache::split_embeddings(plan, found);
    auto state = std::make_shared<cache_context::embed_state>();
    state->model_name = model.name;
    state->ttl = std::chrono::duration_cast<std::chrono::milliseconds>(cc.settings->ttl);
    if (split.all_cached()) {
        auto merged = cache::merge_embeddings(plan, split, found, body, nullptr, model.name);
        if (merged.ok) {
            auto h = cache::status_header_value(cache::cache_status::hit);
            rec.status = 200;
            rec.cache = h;
            st.stats.cache_lookups.add({model.name, "hit"});
            header_list hl{{"X-Swapgate-Cache", h}};
            if (cc.extra) hl.insert(hl.end(), cc.extra->begin(), cc.extra->end());
            co_await conn.send(200, "application/json", merged.response, hl);
            co_return true;
        }
    }
    // With nothing cached and no duplicate input, the client's own bytes go
    // upstream and its answer comes back unchanged; the vectors are stored from it.
    bool rebuilt = split.upstream_positions.size() != plan.inputs.size();
    if (rebuilt) cc.upstream_body = dump(cache::build_upstream_request(body, plan, split));
    state->passthrough = !rebuilt;
    state->body = std::move(body);
    state->plan = std::move(plan);
    state->split = std::move(split);
    state->found = std::move(found);
    cc.embed = std::move(state);
    co_return false;
}

// Without a DOM: could the (validated) body be deterministic sampling, a
// temperature of 0 or an integer seed? When not, the deterministic mode
// bypasses it, and most requests are answered that way without the cost of a
// parse (cache::deterministic_request decides the rest when it could be).
bool could_be_deterministic(std::string_view body) {
    auto root = json_scan::root(body);
    if (root.type() != json_scan::kind::object) return true;  // decide() says why not
    if (auto seed = root.member("seed"); seed && seed->is_integer()) return true;
    auto t = root.member("temperature");
    if (!t || t->type() != json_scan::kind::number) return false;
    // The digits of a JSON number are all zero when its value is (0, -0, 0.0, 0e5).
    for (char c : t->text) {
        if (c == 'e' || c == 'E') break;
        if (c >= '1' && c <= '9') return false;
    }
    return true;
}

}  // namespace

std::string with_include_usage(const std::string& body) {
    auto close = body.find_last_of('}');
    if (close == std::string::npos) return body;
    return body.substr(0, close) + R"(,"stream_options":{"include_usage":true})" + body.substr(close);
}

std::string without_null_usage(std::string_view data) {
    // Parsed, not matched as text: backends space their JSON differently.
    auto j = json::parse(data, nullptr, false);
    if (!j.is_object()) return std::string(data);
    auto it = j.find("usage");
    if (it == j.end() || !it->is_null()) return std::string(data);
    j.erase(it);
    return dump(j);
}

bool usage_only_chunk(std::string_view data) {
    if (data.find("\"usage\"") == std::string_view::npos) return false;
    auto j = json::parse(data, nullptr, false);
    return j.is_object() && j.contains("choices") && j["choices"].is_array() && j["choices"].empty() &&
           j.contains("usage") && !j["usage"].is_null();
}

net::awaitable<bool> cache_prepare(proxy_state& st, client_conn& conn, const incoming_request& req, endpoint ep,
                                   const config::model& model, request_record& rec, cache_context& cc,
                                   std::optional<nlohmann::json> parsed) {
    auto& rc = *st.cache;
    cc.settings = &rc.settings(&model);
    if (cc.settings->mode == cache::cache_mode::off) {
        cc.header = cache::status_header_value(cache::cache_status::off);
        st.stats.cache_lookups.add({model.name, "off"});
        co_return false;
    }
    if (cc.settings->mode == cache::cache_mode::deterministic && ep != endpoint::embeddings &&
        !could_be_deterministic(req.body)) {
        cc.header = cache::status_header_value(cache::cache_status::bypass);
        st.stats.cache_lookups.add({model.name, "bypass"});
        co_return false;
    }
    json body = parsed ? std::move(*parsed) : json::parse(req.body, nullptr, false);
    if (!body.is_object()) co_return false;
    cc.decision = cache::decide(cc.settings->mode, endpoint_key(ep), body, {req.cache_control, req.x_swapgate_cache});
    cc.header = cache::status_header_value(cc.decision.status);
    if (!cc.decision.lookup && !cc.decision.store) {
        st.stats.cache_lookups.add({model.name, result_label(cc.decision.status)});
        co_return false;
    }
    cc.active = true;
    std::string ns = rc.namespace_for(req.authorization);
    if (ep == endpoint::embeddings) {
        bool answered = co_await embeddings_prepare(st, conn, model, rec, cc, std::move(body), ns);
        if (!answered) st.stats.cache_lookups.add({model.name, "miss"});
        co_return answered;
    }
    cc.client_stream = body.value("stream", false) == true;
    if (auto so = body.find("stream_options"); so != body.end() && so->is_object()) {
        auto iu = so->find("include_usage");
        cc.include_usage = iu != so->end() && iu->is_boolean() && iu->get<bool>();
    }
    cc.key = cache::request_key(endpoint_key(ep), rc.model_identity(&model), ns, body).hex();
    if (cc.decision.lookup) {
        auto bytes = co_await rc.get(std::string("r"), cc.key);
        if (bytes) {
            // The same stored bytes were rendered in this form before: send that.
            std::string memo_key = cc.key + (cc.client_stream ? (cc.include_usage ? "/su" : "/s") : "/n");
            const std::string header = cache::status_header_value(cache::cache_status::hit);
            if (auto done = rc.rendered(memo_key, *bytes)) {
                st.stats.cache_lookups.add({model.name, "hit"});
                note_hit(rec, header);
                co_await send_rendered(conn, cc, hit_headers(cc, header), done->bytes);
                co_return true;
            }
            auto r = cache::deserialize_record(*bytes);
            if (r && cache::replayable(*r, cc.client_stream, cc.include_usage)) {
                st.stats.cache_lookups.add({model.name, "hit"});
                note_hit(rec, header);
                std::string out = render(*r, cc, std::string("hit"));
                rc.remember_rendered(std::move(memo_key), *bytes, out);
                co_await send_rendered(conn, cc, hit_headers(cc, header), out);
                co_return true;
            }
        }
    }
    // The semantic tier: embeds the final user message (also to store it
    // later), then looks for a verified similar entry.
    if (st.semantic && cc.settings->semantic.enabled && ep == endpoint::chat) {
        auto h = co_await st.semantic->find(model, ns, body, cc, cc.decision.lookup);
        if (h) {
            st.stats.cache_lookups.add({model.name, "semantic_hit"});
            co_await replay(conn, h->record, cc, cache::status_header_value(cache::cache_status::semantic_hit, h->similarity),
                            rec, std::string("semantic-hit"));
            co_return true;
        }
    }
    st.stats.cache_lookups.add({model.name, "miss"});
    if (cc.decision.store) {
        cc.recorder = std::make_unique<cache::completion_recorder>(cc.settings->max_entry_bytes);
        // A stored stream should replay as a non-stream answer too, which needs
        // usage: ask for it, and strip it again if the client did not.
        cc.inject_usage = cc.client_stream && !body.contains("stream_options");
    }
    co_return false;
}

void cache_finish(proxy_state& st, cache_context& cc, const config::model& model, request_record& rec) {
    if (!rec.cache.size()) rec.cache = cc.header;
    if (!cc.recorder || rec.status != 200) return;
    if (!cc.recorder->complete()) {
        bool big = cc.recorder->why_incomplete().find("maximum entry size") != std::string::npos;
        st.stats.cache_stores.add({model.name, big ? "too_large" : "not_complete"});
        return;
    }
    auto r = cc.recorder->finish();
    if (!r) return;
    auto bytes = cache::serialize_record(*r, cc.settings->max_entry_bytes);
    if (!bytes) {
        st.stats.cache_stores.add({model.name, "too_large"});
        return;
    }
    if (!st.cache->put("r", cc.key, std::move(*bytes), std::chrono::duration_cast<std::chrono::milliseconds>(cc.settings->ttl))) {
        st.stats.cache_stores.add({model.name, "rejected_by_store"});
        return;
    }
    st.stats.cache_stores.add({model.name, "stored"});
    if (st.semantic) st.semantic->store(cc);
}

bool merge_embeddings_answer(proxy_state& st, cache_context& cc, const std::string& upstream_body,
                             std::string& client_body, std::string& error) {
    auto& e = *cc.embed;
    auto up = json::parse(upstream_body, nullptr, false);
    if (!up.is_object()) {
        if (e.passthrough) {
            client_body = upstream_body;
            return true;
        }
        error = "the embeddings response is not a JSON object";
        return false;
    }
    auto merged = cache::merge_embeddings(e.plan, e.split, e.found, e.body, &up, e.model_name);
    if (!merged.ok) {
        if (e.passthrough) {  // nothing to merge: the answer goes through, nothing is stored
            client_body = upstream_body;
            return true;
        }
        error = merged.error;
        return false;
    }
    client_body = e.passthrough ? upstream_body : std::move(merged.response);
    if (cc.decision.store) {
        std::vector<std::pair<std::string, std::string>> entries;
        for (auto& [k, v] : merged.to_store) entries.emplace_back(k.hex(), cache::serialize_embedding(v));
        st.cache->put_many("e", std::move(entries), e.ttl);
    }
    return true;
}

}  // namespace swapgate::proxy
