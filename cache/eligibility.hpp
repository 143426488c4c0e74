// Whether one request may be answered from the cache and whether its answer may be
// stored. Pure: the model's mode, the endpoint, the body and two request headers in,
// a decision out.
#pragma once
#include "cache/settings.hpp"
#include "cache/status_header.hpp"

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace swapgate::cache {

// "deterministic" | "always" | "off" (case-insensitive); nullopt otherwise.
std::optional<cache_mode> parse_cache_mode(std::string_view text);

// The request headers that steer the cache; empty = absent.
struct cache_request_headers {
    std::string_view cache_control;     // Cache-Control
    std::string_view x_swapgate_cache;  // X-Swapgate-Cache: bypass | refresh
};

struct cache_decision {
    bool lookup = false;  // look the exact (and semantic) key up before going upstream
    bool store = false;   // store the upstream answer if it finishes normally
    // The X-Swapgate-Cache value when the answer does not come from the cache:
    // miss (looked up, or refresh asked for), bypass (not cacheable or the client
    // said no-store/bypass) or off (cache.mode off).
    cache_status status = cache_status::miss;
    std::string reason;  // for logs: why lookup/store are off, empty when both are on
};

// Rules, first match wins:
//  - mode off -> nothing, "off";
//  - endpoint not chat/completions/embeddings, or body not an object -> nothing, "bypass";
//  - Cache-Control: no-store, or X-Swapgate-Cache: bypass -> nothing, "bypass";
//  - mode deterministic and the sampling is not deterministic (chat/completions:
//    temperature 0 or an integer seed, n and best_of absent or 1, logprobs absent,
//    null or false, top_logprobs absent, null or 0) -> nothing, "bypass";
//    embeddings are always deterministic;
//  - Cache-Control: no-cache or max-age=0, or X-Swapgate-Cache: refresh -> store only, "miss";
//  - otherwise lookup and store, "miss".
cache_decision decide(cache_mode mode, std::string_view endpoint, const nlohmann::json& body,
                      const cache_request_headers& headers);

// True when the chat/completions body asks for deterministic output (see decide()).
bool deterministic_request(const nlohmann::json& body, std::string* why_not = nullptr);

}  // namespace swapgate::cache
