// The response cache on a request's path (exact tier): decide whether the
// request may be looked up and stored, answer a hit in the form the client
// asked for (stream or not), and record the upstream answer for storing.
// The semantic tier plugs in after an exact miss (semantic_tier.hpp).
#pragma once
#include "cache/eligibility.hpp"
#include "cache/recorder.hpp"
#include "proxy/handler.hpp"

#include <memory>
#include <optional>
#include <string>

namespace swapgate::proxy {

struct cache_context {
    const header_list* extra = nullptr;  // headers every answer carries (X-Swapgate-Route)
    bool active = false;                 // the cache is involved (mode not off, request parsed)
    cache::cache_decision decision;
    std::string key;                     // exact key (hex) when lookup or store
    const cache::model_cache_settings* settings = nullptr;
    bool client_stream = false;
    bool include_usage = false;          // the client asked for the usage chunk
    bool inject_usage = false;           // we asked upstream for it (and strip it again)
    std::string header;                  // X-Swapgate-Cache for an answer from upstream
    std::unique_ptr<cache::completion_recorder> recorder;  // set when the answer may be stored
    std::string semantic_partition;      // hex; set when the semantic tier may store this answer
    std::vector<float> semantic_vector;  // the embedded final user message
    // Embeddings: the per-input plan; the upstream is asked only for the misses.
    struct embed_state;
    std::shared_ptr<embed_state> embed;
    std::optional<std::string> upstream_body;  // replaces the client's body upstream (model not yet rewritten)
};

// Chat and completions. `parsed` is req.body as a DOM when routing parsed it
// already (else it is parsed here, when the request may be cached). Returns true when the request was answered from the
// cache (rec filled); else `cc` says what to do with the upstream answer.
net::awaitable<bool> cache_prepare(proxy_state& st, client_conn& conn, const incoming_request& req, endpoint ep,
                                   const config::model& model, request_record& rec, cache_context& cc,
                                   std::optional<nlohmann::json> parsed = std::nullopt);
// After the exchange: stores a complete recording.
void cache_finish(proxy_state& st, cache_context& cc, const config::model& model, request_record& rec);

// `body` (a JSON object) with "stream_options":{"include_usage":true} added.
std::string with_include_usage(const std::string& body);
// A stream chunk that only carries usage ({"choices":[],"usage":{...}}).
bool usage_only_chunk(std::string_view data);
// A chunk's data without the "usage":null member backends add to every chunk
// once include_usage was asked for.
std::string without_null_usage(std::string_view data);

// Embeddings with a partial hit: the client's answer from the upstream's answer
// for the misses plus the cached inputs; stores the new vectors. False (and
// `error` set) when the upstream's answer does not fit the request.
bool merge_embeddings_answer(proxy_state& st, cache_context& cc, const std::string& upstream_body,
                             std::string& client_body, std::string& error);

}  // namespace swapgate::proxy
