// The routing part of the configuration (routing/ROUTING.md): tiers, glob
// patterns, `auto` rules, per-task parameter defaults and caps, and per model
// its context window, capabilities, scripts, defaults, caps, overflow action
// and fallback chain. Plain data; the loader fills it and checks every name.
#pragma once
#include "config/duration.hpp"

#include <array>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace YAML {
class Node;
}

namespace swapgate::config {

// The scripts routing tells apart, as written in config (`scripts: [Greek]`,
// `{if: {script: Greek}}`). routing/text_features counts letters per entry.
inline constexpr std::array<const char*, 11> script_names = {
    "Latin", "Greek", "Cyrillic", "Armenian", "Hebrew", "Arabic", "Devanagari", "Thai", "Hangul", "Kana", "Han"};

// The canonical script name for `name` (case-insensitive; Hiragana, Katakana
// and Japanese mean Kana); nullopt when unknown.
std::optional<std::string> canonical_script(std::string_view name);
// The script a language (ISO 639-1 code: el, ru, zh, ...) is written in; nullopt when not in the table.
std::optional<std::string> script_of_language(std::string_view code);

// One condition of an `auto` rule. A rule holds when all its conditions hold.
struct route_condition {
    enum class kind { task_type, script, complexity_at_least, complexity_below, has_tools, has_images, min_context };
    kind what = kind::task_type;
    std::vector<std::string> values;  // task_type: accepted X-Task-Type values; script: {script name}
    double number = 0;                // complexity threshold, script min_share (default 0.5), min_context tokens
    bool flag = true;                 // has_tools / has_images
};

struct route_rule {
    int number = 0;  // 1-based position in routing.auto.rules (kept when an earlier rule is dropped)
    std::vector<route_condition> all;
    std::string then;                 // a tier or a model name (aliases resolved); empty: `models`
    std::vector<std::string> models;  // `then` omitted: the models declaring what the conditions need
    std::string label;                // "script=Greek", "task_type=dice_rolling+has_tools" for headers and logs
};

struct auto_settings {
    bool enabled = false;  // `routing.auto` is present: the name `auto` is reserved
    std::vector<route_rule> rules;
    std::string fallback;                     // `default`: a tier or a model name
    std::vector<std::string> reasoning_cues;  // empty: the built-in list (ROUTING.md)
};

// `patterns: [{match: "qwen*", model: qwen2.5-7b}]`; `*` any run, `?` one byte.
struct route_pattern {
    std::string match;
    std::string target;  // a tier or a model name
};

enum class overflow_action { next, trim, reject };
const char* overflow_name(overflow_action a);

// Request parameters: value as JSON text ("0.7", "[\"\\n\"]") for defaults,
// numeric ceilings for caps.
using param_defaults = std::map<std::string, std::string>;
using param_caps = std::map<std::string, double>;

struct model_routing {
    long long context_window = 0;  // tokens; 0 = not checked. Default: `context` of a managed model that sets it
    bool capabilities_declared = false;  // `capabilities` given: missing ones are known to be missing
    bool tools = false;
    bool vision = false;
    std::vector<std::string> scripts;  // canonical names, from `scripts` and `languages`
    param_defaults defaults;
    param_caps caps;
    overflow_action overflow = overflow_action::next;
    std::vector<std::string> fallback;  // model names, in order; models that are off are left out
    // Wait or go remote: when this model is not resident and its expected wait
    // (the scheduler's estimate) exceeds this, a later hop on a backend swapgate
    // does not manage (a hosted API) is tried first. 0 = never wait when a remote hop exists.
    std::optional<duration> max_local_wait;
    // /v1/embeddings batching (README: "Batching"): on when `batch` is given.
    struct batch_t {
        long long max_inputs = 256;
        long long max_tokens = 16384;
        duration window{100};
        long long slots = 1;
    };
    std::optional<batch_t> batch;
};

// How a chain of hops is walked (README: "Fallback chains").
struct fallback_settings {
    int retries = 1;                               // extra attempts of the last hop on a transport error or 5xx/429
    duration retry_backoff{200};                   // base of the jittered exponential backoff
    duration retry_backoff_max{5000};
    duration deadline{std::chrono::seconds(120)};  // no new attempt starts past this, from the request's arrival
    int breaker_failures = 5;                      // consecutive failures that open a backend's breaker
    duration breaker_cooldown{std::chrono::seconds(10)};
    duration default_max_local_wait{std::chrono::seconds(10)};
};

struct routing_settings {
    std::map<std::string, std::vector<std::string>> tiers;  // tier -> model names, preferred first
    std::vector<route_pattern> patterns;
    auto_settings auto_route;
    std::map<std::string, param_defaults> task_defaults;  // X-Task-Type -> defaults
    std::map<std::string, param_caps> task_caps;          // X-Task-Type -> caps
    std::map<std::string, model_routing> models;          // every configured model has an entry
    fallback_settings fallback;
    // Identical cache-eligible requests in flight at once share one upstream call.
    bool coalesce = true;
};

class yaml_reader;
struct config;
using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

// The per-model keys read here, for the model's unknown-key check.
extern const std::initializer_list<const char*> routing_model_keys;

// After all models are read: the `routing` section and the routing keys of
// each entry of `models` (the YAML list, for key paths). Names in tiers,
// patterns, rules and fallbacks must be models, aliases or tiers; a model that
// is off (its backend's requires_env unset) is left out with a note.
// `env` is the loader's, for the names of models that are off.
void read_routing(yaml_reader& r, const env_lookup& env, const YAML::Node& section, const YAML::Node& models,
                  config& c);

}  // namespace swapgate::config
