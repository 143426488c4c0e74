// From a request to the chain of models to try (routing/router.hpp does the
// deciding): names and aliases take a fast path; tiers, patterns, `auto`,
// parameter defaults and caps and context-window checks parse the body and
// ask the router, with the scheduler's residency snapshot.
#pragma once
#include "proxy/handler.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace swapgate::proxy {

struct route_plan {
    std::vector<const config::model*> chain;  // chain[0] is the choice; then its fallbacks
    std::string header;                       // X-Swapgate-Route
    std::string rule;                         // name, alias, tier, pattern, auto, ... (metrics label)
    std::string detail;                       // the router's explanation, for the log
    std::string original_body;                // the client's body, when chain[0]'s edits changed it (else empty)
    std::optional<nlohmann::json> body;       // req.body parsed, when routing needed to parse it (for the cache)
};

// The body for a later hop: the client's body with that model's own defaults and caps.
std::string body_for_hop(const proxy_state& st, const incoming_request& req, const route_plan& plan, size_t hop);

// Fills `plan`; may rewrite req.body (defaults, caps, trimmed turns). The error
// to answer when the request cannot be routed.
std::optional<api_error> plan_route(proxy_state& st, incoming_request& req, endpoint ep, const request_info& info,
                                    route_plan& plan);

}  // namespace swapgate::proxy
