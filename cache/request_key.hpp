// The exact-match cache key of a request: XXH3-128 over the canonical bytes of
// everything that can change the answer. Pure; no I/O.
//
// Hashed, in this order (as one canonical JSON array):
//   [schema_version, "exact", endpoint, resolved_model_id, namespace, body']
// where body' is the request body without the excluded fields, without `model`
// (replaced by the resolved id, so two aliases of one model share entries) and
// without top-level members whose value is null (OpenAI treats null as "unset").
// Every other member is included, unknown extras too: they may change the answer.
#pragma once
#include "cache/hash.hpp"

#include <nlohmann/json_fwd.hpp>

#include <span>
#include <string>
#include <string_view>

namespace swapgate::cache {

// Bumped whenever the canonical form, the key layout or the stored value format
// changes; old entries then simply stop matching.
inline constexpr int schema_version = 1;

// Endpoint names to pass as `endpoint` (any fixed string works; these keep the
// proxy and the tests in agreement).
inline constexpr std::string_view endpoint_chat = "/v1/chat/completions";
inline constexpr std::string_view endpoint_completions = "/v1/completions";
inline constexpr std::string_view endpoint_embeddings = "/v1/embeddings";

// Top-level body members that never change the answer and are left out of keys:
// stream, stream_options (the reply form; hits are replayed in whichever form is
// asked for) and user (an end-user id for abuse tracking). Request ids travel in
// headers and never reach the key. `model` is handled separately (see above).
std::span<const std::string_view> excluded_request_fields();

// The canonical bytes that request_key() hashes (exposed for tests and debugging).
std::string request_key_material(std::string_view endpoint, std::string_view resolved_model_id,
                                 std::string_view ns, const nlohmann::json& body);

// The exact key. `ns` is the cache namespace: derived from the authenticated API key
// or a configured tenant mapping (never a client-supplied header); "global" when auth
// is off.
key128 request_key(std::string_view endpoint, std::string_view resolved_model_id, std::string_view ns,
                   const nlohmann::json& body);

// Appends body' (see above) to `out` in canonical form. `skip` names one more
// top-level member to leave out (empty = none). Shared with the semantic and
// embeddings keys.
void append_key_body(std::string& out, const nlohmann::json& body, std::string_view skip = {});

}  // namespace swapgate::cache
