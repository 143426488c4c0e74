// The routing policy (routing/ROUTING.md): the requested name (a model, an
// alias, a tier, `auto` or a name a glob pattern catches) plus the request
// body and the scheduler's residency view -> an ordered chain of models, the
// rule that decided, parameter edits and the context-overflow action. Pure: no
// I/O, no clock; the caller carries the decision out.
#pragma once
#include "config/config.hpp"
#include "routing/text_features.hpp"

#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace swapgate::routing {

// One model as the scheduler sees it now; the caller fills it. A model
// without a driver is always `ready`.
struct residency {
    bool ready = false;  // resident with a free slot: can start at once
    bool fits = false;   // can serve without evicting a busy model: resident but busy, or loadable into free memory
};
using residency_view = std::function<residency(const std::string& model)>;

struct routing_inputs {
    const config::config* cfg = nullptr;  // required
    std::string requested;                // the body's `model`
    std::string task_type;                // the X-Task-Type header; empty when absent
    const nlohmann::json* body = nullptr; // the parsed chat or completions body; null = {}
    residency_view residency;             // empty: every model counts as ready
};

// Sets `key` to `value` (JSON text) in the body. Applied in order; a cap that
// follows a default for the same key overrides it.
struct param_edit {
    std::string key;
    std::string value;
    std::string source;  // "default:task", "default:model", "cap:task", "cap:model"
    bool operator==(const param_edit&) const = default;
};

enum class route_status {
    ok,
    unknown_model,            // 404 model_not_found
    no_model,                 // 503: the tier or rule target has no model that is on
    context_length_exceeded,  // 400: does not fit and the overflow action could not help
};

enum class overflow_kind {
    none,    // fits (or the window is not configured)
    moved,   // chain[0] is a larger-window model than `overflowed`, the one first chosen
    trim,    // fits after trim_oldest_turns(body, trim_turns)
    reject,  // status context_length_exceeded
};

struct route_decision {
    route_status status = route_status::ok;
    std::vector<std::string> chain;  // model names to try in order; chain[0] is the choice
    std::string rule;                // for logs: "auto rule 2 (script=Greek) -> tier greek: first ready"
    std::string header;              // the X-Swapgate-Route value (ROUTING.md: "The header")
    std::vector<param_edit> edits;   // for chain[0]; other hops: parameter_edits(...) on the original body

    overflow_kind overflow = overflow_kind::none;
    std::string overflowed;       // the model whose window was too small
    int trim_turns = 0;           // overflow trim: turns to drop
    long long prompt_tokens = 0;  // estimated, before any trim
    long long max_tokens = 0;     // the completion budget after edits (0 when absent)
    long long context_window = 0; // of `overflowed` when set, else of chain[0]; 0 = unchecked

    // status != ok: the OpenAI-style error to answer with.
    int http_status = 200;
    std::string error_code;  // model_not_found, model_unavailable, context_length_exceeded
    std::string error_message;

    text_features features;
};

route_decision decide(const routing_inputs& in);

// Defaults (the task's, then the model's) for fields the body leaves out or
// sets to null, then caps (the lower of the task's and the model's) on numeric
// fields. A max_tokens default is skipped when max_completion_tokens is set; a
// max_tokens cap also caps max_completion_tokens.
std::vector<param_edit> parameter_edits(const config::config& cfg, const std::string& model,
                                        std::string_view task_type, const nlohmann::json& body);
void apply_edits(nlohmann::json& body, const std::vector<param_edit>& edits);

// Shell-style glob on bytes: `*` any run (also empty), `?` exactly one byte.
bool glob_match(std::string_view pattern, std::string_view text);

// Turns for trimming: each user message opens a turn holding the assistant
// and tool messages after it (so tool calls and their results go together);
// non-system messages before the first user message form one turn. System and
// developer messages always stay; the turn of the last user message never goes.
// Drops the `turns` oldest turns; returns how many messages were dropped.
int trim_oldest_turns(nlohmann::json& body, int turns);
// The fewest oldest turns to drop so that estimate_prompt_tokens + max_tokens
// <= window; 0 when it fits already, -1 when dropping every droppable turn is not enough.
int turns_to_trim(const nlohmann::json& body, long long max_tokens, long long window);

}  // namespace swapgate::routing
