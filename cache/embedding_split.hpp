// Per-input caching of /v1/embeddings. Pure helpers; the proxy does the lookups.
// Order of calls for one request:
//   plan = plan_embeddings(model, ns, body)        -> keys of the cacheable inputs
//   found[i] = store lookup of plan.inputs[i].key   (nullopt when absent / not cacheable)
//   split = split_embeddings(plan, found)
//   if (!split.upstream_positions.empty())
//       send build_upstream_request(body, plan, split) upstream
//   merged = merge_embeddings(plan, split, found, upstream_response_or_null, model_name)
//   store merged.to_store (key -> serialize_embedding(value)), reply merged.response
//
// Only string inputs are cached; token arrays always go upstream. The per-input key
// covers endpoint, resolved model, namespace, the input and every other body member
// but `input`/`user`/`model` (encoding_format defaults to "float"; dimensions counts).
#pragma once
#include "cache/hash.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace swapgate::cache {

struct embedding_input {
    std::size_t position = 0;  // in the request's input list
    bool cacheable = false;    // a string input
    key128 key;                // valid when cacheable
};

struct embedding_plan {
    bool ok = false;              // false: forward the request unchanged and store nothing
    std::string reason;
    bool single = false;          // `input` was one value, not a list
    std::vector<embedding_input> inputs;
};

// One cached vector: the upstream's `embedding` value exactly as sent (a float
// array, or a base64 string with encoding_format base64), compact JSON text, and the
// prompt tokens attributed to this input.
struct cached_embedding {
    std::string embedding_json;
    std::uint64_t tokens = 0;
};

std::string serialize_embedding(const cached_embedding& e);
std::optional<cached_embedding> deserialize_embedding(std::string_view bytes);

embedding_plan plan_embeddings(std::string_view resolved_model_id, std::string_view ns, const nlohmann::json& body);

struct embedding_split {
    // Positions (in the request) the upstream must embed, in request order. A string
    // that occurs several times is sent once (its first position); `duplicate_of`
    // maps each later position to that first one.
    std::vector<std::size_t> upstream_positions;
    std::vector<std::optional<std::size_t>> duplicate_of;  // per position
    bool all_cached() const { return upstream_positions.empty(); }
};

// `found` has one slot per plan.inputs (nullopt for misses and uncacheable inputs).
embedding_split split_embeddings(const embedding_plan& plan, const std::vector<std::optional<cached_embedding>>& found);

// The upstream request: the client's body with `input` replaced by the uncached
// inputs (as a list, or the single value when the client sent one).
nlohmann::json build_upstream_request(const nlohmann::json& body, const embedding_plan& plan,
                                      const embedding_split& split);

struct embedding_merge {
    bool ok = false;
    std::string error;  // the upstream response did not match the request
    std::string response;  // the client's response body (compact JSON)
    std::vector<std::pair<key128, cached_embedding>> to_store;  // new vectors to cache
};

// The client's response: every input's vector at its original index, `model` from
// the upstream response (or `model_name` when everything was cached), and usage =
// the sum of all inputs' tokens: cached inputs count the tokens recorded with them,
// upstream inputs share the upstream's prompt_tokens (token arrays count their
// length, strings split the rest in proportion to their byte length; exact for a
// single string). A duplicate counts again. Top-level "swapgate_cache" reports
// {"cached_inputs": k, "inputs": n} when k > 0.
embedding_merge merge_embeddings(const embedding_plan& plan, const embedding_split& split,
                                 const std::vector<std::optional<cached_embedding>>& found,
                                 const nlohmann::json& body, const nlohmann::json* upstream_response,
                                 std::string_view model_name);

}  // namespace swapgate::cache
