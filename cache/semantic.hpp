// The semantic tier's pure planning step: may this chat request be answered by a
// similar earlier one, in which partition, and what text gets embedded?
//
// A semantic hit may only differ from the stored request in the wording of the
// final user message. Everything else is in the partition key P, so a different
// tenant, model, system prompt, earlier turn, tool list or sampling parameter can
// never match: P = XXH3-128 over the canonical
//   [schema_version, "semantic", endpoint, resolved_model_id, namespace,
//    embedding_model, body']
// where body' is the exact-key body (request_key.hpp: excluded fields and nulls
// dropped) with the final message's `content` removed (its other members, e.g.
// `name`, stay in).
#pragma once
#include "cache/hash.hpp"
#include "cache/settings.hpp"

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>

namespace swapgate::cache {

struct semantic_plan_result {
    bool eligible = false;
    key128 partition_key;
    std::string text_to_embed;  // the final user message, normalised (text_normalize.hpp)
    std::string reason;         // why not eligible; empty when eligible
};

// Not eligible when: the tier is disabled; the endpoint is not chat; there are no
// messages; the final message is not role "user"; its content is not text (a string,
// or an array of only {"type":"text"} parts, joined with "\n"); the normalised text
// is shorter than min_chars or longer than max_chars code points; or the
// conversation has more than max_turns user messages.
semantic_plan_result semantic_plan(std::string_view endpoint, std::string_view resolved_model_id,
                                   std::string_view ns, const nlohmann::json& body,
                                   const semantic_settings& settings);

}  // namespace swapgate::cache
