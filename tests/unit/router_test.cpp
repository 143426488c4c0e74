// The routing policy: config reading and checks, text features, names,
// aliases, tiers by residency, globs, `auto` rules, parameter edits, overflow.
#include "routing/router.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

namespace swapgate::routing {
namespace {

using json = nlohmann::json;

const char* yaml = R"(
backends:
  local: {url: "http://127.0.0.1:8080/v1"}
  hosted: {url: "https://api.example.com/v1", api_key: "${KEY}", requires_env: KEY}
models:
  - {name: tiny, aliases: [t1], backend: local, context_window: 2048, defaults: {temperature: 0.7, top_p: 0.9, stop: ["\n\n"]}, caps: {max_tokens: 256}}
  - {name: small, backend: local, context_window: 4096, capabilities: [tools], fallback: [big]}
  - {name: big, backend: local, context_window: 32768, capabilities: [tools, vision], overflow: reject}
  - {name: greek-7b, backend: local, languages: [el], context_window: 8192}
  - {name: ru-7b, backend: local, scripts: [cyrillic]}
  - {name: qwen2.5-7b, backend: local, languages: [zh], context_window: 8192, overflow: trim, fallback: [t1]}
  - {name: vision-7b, backend: local, capabilities: [vision], context_window: 8192}
  - {name: gpt, backend: hosted}
routing:
  tiers:
    fast: [tiny, small]
    default: [small, big]
    complex: [big, gpt]
    vision: [vision-7b, big]
  patterns:
    - {match: "qwen*", model: qwen2.5-7b}
    - {match: "gpt-?o*", model: complex}
  auto:
    default: default
    rules:
      - {if: {task_type: dice_rolling}, then: fast}
      - {if: {has_images: true}, then: vision}
      - {if: {script: Greek}, then: greek-7b}
      - {if: {script: Cyrillic}}
      - {if: {script: Han, min_share: 0.3}, then: qwen2.5-7b}
      - {if: {has_tools: true}}
      - {if: {min_context: 30000}, then: big}
      - {if: {complexity_at_least: 0.6}, then: complex}
      - {if: {complexity_below: 0.2}, then: fast}
  task_defaults:
    dice_rolling: {temperature: 0.2, max_tokens: 64}
  task_caps:
    dice_rolling: {max_tokens: 100}
)";

config::load_result load(const std::string& text, std::map<std::string, std::string> env = {}) {
    return config::load_string(text, [env](const std::string& k) -> std::optional<std::string> {
        auto it = env.find(k);
        if (it == env.end()) return std::nullopt;
        return it->second;
    });
}

std::string all(const config::load_result& r) {
    std::string s;
    for (const auto& e : r.errors) s += e + "\n";
    return s;
}

bool has_error(const config::load_result& r, const std::string& text) {
    return std::any_of(r.errors.begin(), r.errors.end(), [&](const auto& e) { return e.find(text) != std::string::npos; });
}

const config::config& cfg() {
    static const config::config c = [] {
        auto r = load(yaml);
        EXPECT_TRUE(r.cfg) << all(r);
        return *r.cfg;
    }();
    return c;
}

json chat(std::initializer_list<std::pair<const char*, std::string>> msgs) {
    json b = {{"messages", json::array()}};
    for (const auto& [role, text] : msgs) b["messages"].push_back({{"role", role}, {"content", text}});
    return b;
}

route_decision route(const std::string& model, const json& body, std::string task = "",
                     std::map<std::string, residency> res = {}, const config::config* c = nullptr) {
    routing_inputs in;
    in.cfg = c ? c : &cfg();
    in.requested = model;
    in.task_type = std::move(task);
    in.body = &body;
    if (!res.empty())
        in.residency = [res](const std::string& m) {
            auto it = res.find(m);
            return it == res.end() ? residency{} : it->second;
        };
    return decide(in);
}

using chain_t = std::vector<std::string>;
const std::string greek = "Γεια σου! Μπορείς να μου πεις τι καιρό θα κάνει αύριο στην Αθήνα;";
const std::string russian = "Привет, расскажи мне, пожалуйста, о погоде в Москве.";
const std::string chinese = "请告诉我明天北京的天气怎么样";

TEST(RoutingConfig, ReadsSectionAndModelKeys) {
    const auto& c = cfg();
    const auto& rs = c.routing;
    EXPECT_EQ(rs.tiers.at("fast"), (chain_t{"tiny", "small"}));
    EXPECT_EQ(rs.tiers.at("complex"), (chain_t{"big"}));  // gpt is off: KEY is unset
    EXPECT_TRUE(std::any_of(c.notes.begin(), c.notes.end(),
                            [](const auto& n) { return n.find("routing.tiers.complex[1]: model 'gpt' is off") != std::string::npos; }));
    ASSERT_EQ(rs.patterns.size(), 2u);
    EXPECT_EQ(rs.patterns[1].target, "complex");
    ASSERT_EQ(rs.auto_route.rules.size(), 9u);
    EXPECT_EQ(rs.auto_route.rules[2].label, "script=Greek");
    EXPECT_EQ(rs.auto_route.rules[3].models, (chain_t{"ru-7b"}));       // then omitted: who declares Cyrillic
    EXPECT_EQ(rs.auto_route.rules[5].models, (chain_t{"small", "big"}));  // ... or tools
    EXPECT_DOUBLE_EQ(rs.auto_route.rules[4].all[0].number, 0.3);
    EXPECT_EQ(rs.auto_route.fallback, "default");
    EXPECT_EQ(rs.task_defaults.at("dice_rolling").at("max_tokens"), "64");
    const auto& tiny = rs.models.at("tiny");
    EXPECT_EQ(tiny.context_window, 2048);
    EXPECT_EQ(tiny.defaults.at("stop"), "[\"\\n\\n\"]");
    EXPECT_DOUBLE_EQ(tiny.caps.at("max_tokens"), 256);
    EXPECT_FALSE(tiny.capabilities_declared);
    EXPECT_EQ(rs.models.at("qwen2.5-7b").fallback, (chain_t{"tiny"}));  // alias resolved
    EXPECT_EQ(rs.models.at("qwen2.5-7b").overflow, config::overflow_action::trim);
    EXPECT_EQ(rs.models.at("greek-7b").scripts, (chain_t{"Greek"}));
    EXPECT_EQ(rs.models.at("ru-7b").scripts, (chain_t{"Cyrillic"}));
    EXPECT_TRUE(rs.models.at("big").vision && rs.models.at("big").tools);

    auto on = load(yaml, {{"KEY", "sk"}});
    ASSERT_TRUE(on.cfg) << all(on);
    EXPECT_EQ(on.cfg->routing.tiers.at("complex"), (chain_t{"big", "gpt"}));
}

TEST(RoutingConfig, ErrorsNameTheKeyPath) {
    auto r = load(R"(
backends: {b: {url: "http://127.0.0.1:1/v1"}}
models:
  - {name: a, aliases: [fast], backend: b, capabilities: [tool], overflow: drop, fallback: [a, zz], languages: [xx], scripts: [Klingon]}
  - {name: c, backend: b, caps: {max_tokens: lots}, defaults: {model: x}, context_window: 0}
routing:
  tier: {}
  tiers: {fast: [a], slow: [a, nope, a], empty: []}
  patterns: [{match: "x*"}, {match: "y*", model: ghost}]
  auto:
    rules:
      - {if: {scrip: Greek}, then: a}
      - {if: {task_type: t}, then: ghost}
      - {if: {task_type: t}}
      - {if: {task_type: t, min_share: 0.5}, then: a}
      - {if: {script: Greek}}
      - {if: {complexity_at_least: 2}, then: a}
)");
    EXPECT_FALSE(r.cfg);
    for (const char* e : {
             "models[0].capabilities[0]: unknown capability 'tool'",
             "models[0].overflow: unknown overflow action 'drop'",
             "models[0].fallback[0]: a model cannot fall back to itself",
             "models[0].fallback[1]: unknown model or tier 'zz'",
             "models[0].languages[0]: unknown language 'xx'",
             "models[0].scripts[0]: unknown script 'Klingon'",
             "models[1].caps.max_tokens: expected a number",
             "models[1].defaults.model: 'model' cannot have a default",
             "models[1].context_window: must be between 1",
             "routing.tier: unknown key 'tier'; did you mean 'tiers'?",
             "routing.tiers.fast: 'fast' is already a model name or alias",
             "routing.tiers.slow[1]: unknown model 'nope'",
             "routing.tiers.slow[2]: model 'a' is already in this tier",
             "routing.tiers.empty: a tier needs at least one model",
             "routing.patterns[0]: needs both 'match'",
             "routing.patterns[1].model: unknown model or tier 'ghost'",
             "routing.auto.default: required",
             "routing.auto.rules[0].if.scrip: unknown key 'scrip'; did you mean 'script'?",
             "routing.auto.rules[1].then: unknown model or tier 'ghost'",
             "routing.auto.rules[2].then: required",
             "routing.auto.rules[3].if.min_share: only with script or language",
             "routing.auto.rules[4].then: no model declares what 'script=Greek' needs",
             "routing.auto.rules[5].if.complexity_at_least: must be between 0 and 1",
         })
        EXPECT_TRUE(has_error(r, e)) << e << "\n" << all(r);
    auto reserved = load("backends: {b: {url: \"http://h/v1\"}}\nmodels: [{name: auto, backend: b}]\n"
                         "routing: {auto: {default: auto}}\n");
    EXPECT_TRUE(has_error(reserved, "routing.auto: 'auto' is reserved")) << all(reserved);
    auto coalesce = load("backends: {b: {url: \"http://h/v1\"}}\nmodels: [{name: m, backend: b}]\nrouting: {coalesce: maybe}\n");
    EXPECT_TRUE(has_error(coalesce, "routing.coalesce: expected true or false, got 'maybe'")) << all(coalesce);
    auto off = load("backends: {b: {url: \"http://h/v1\"}}\nmodels: [{name: m, backend: b}]\nrouting: {coalesce: false}\n");
    ASSERT_TRUE(off.cfg) << all(off);
    EXPECT_FALSE(off.cfg->routing.coalesce);
    EXPECT_TRUE(cfg().routing.coalesce);  // the default
    auto typo = load("backends: {b: {url: \"http://h/v1\"}}\nmodels: [{name: m, backend: b, context_windw: 5}]\n");
    EXPECT_TRUE(has_error(typo, "models[0].context_windw: unknown key 'context_windw'; did you mean 'context_window'?"))
        << all(typo);
}

TEST(RoutingConfig, ModelsThatAreOffAreLeftOutWithNotes) {
    auto r = load(R"(
backends:
  b: {url: "http://127.0.0.1:1/v1"}
  h: {url: "https://h/v1", requires_env: KEY}
models:
  - {name: a, backend: b, fallback: [g, a2]}
  - {name: a2, backend: b, languages: [el]}
  - {name: g, aliases: [gg], backend: h}
routing:
  patterns: [{match: "g*", model: gg}]
  auto:
    default: a
    rules:
      - {if: {task_type: x}, then: g}
      - {if: {language: el}}
)");
    ASSERT_TRUE(r.cfg) << all(r);
    const auto& rs = r.cfg->routing;
    EXPECT_EQ(rs.models.at("a").fallback, (chain_t{"a2"}));
    EXPECT_TRUE(rs.patterns.empty());
    ASSERT_EQ(rs.auto_route.rules.size(), 1u);
    EXPECT_EQ(rs.auto_route.rules[0].number, 2);  // keeps its YAML position
    EXPECT_EQ(rs.auto_route.rules[0].label, "language=Greek");
    for (const char* n : {"models[0].fallback[0]: model 'g' is off", "routing.patterns[0].model: model 'gg' is off",
                          "routing.auto.rules[0].then: model 'g' is off"})
        EXPECT_TRUE(std::any_of(r.cfg->notes.begin(), r.cfg->notes.end(),
                                [&](const auto& x) { return x.find(n) != std::string::npos; }))
            << n;
    auto d = route("auto", chat({{"user", greek}}), "x", {}, &*r.cfg);
    EXPECT_EQ(d.header, "model=a2; rule=auto:2:language=Greek");
    EXPECT_EQ(route("auto", chat({{"user", "hi"}}), "", {}, &*r.cfg).header, "model=a; rule=auto:default");
}

TEST(RoutingConfig, ContextWindowDefaultsToAManagedModelsContext) {
    auto r = load(R"(
devices: {gpu0: {budget_mb: 8000}}
models:
  - {name: p, driver: process, command: "x --port ${PORT}", memory_mb: 10, context: 16384}
  - {name: q, driver: process, command: "x --port ${PORT}", memory_mb: 10}
)");
    ASSERT_TRUE(r.cfg) << all(r);
    EXPECT_EQ(r.cfg->routing.models.at("p").context_window, 16384);
    EXPECT_EQ(r.cfg->routing.models.at("q").context_window, 0);  // the 4096 default is a memory estimate input only
}

TEST(TextFeatures, ScriptsAndDominance) {
    EXPECT_EQ(script_of(U'a'), 0);
    EXPECT_EQ(script_of(U'7'), -1);
    EXPECT_EQ(script_of(U'λ'), 1);
    EXPECT_EQ(script_of(U'Ж'), 2);
    EXPECT_EQ(script_of(U'한'), 8);
    EXPECT_EQ(script_of(U'の'), 9);
    EXPECT_EQ(script_of(U'中'), 10);
    EXPECT_EQ(script_of(U'😀'), -1);
    EXPECT_EQ(extract_features(chat({{"user", greek}})).dominant, "Greek");
    EXPECT_EQ(extract_features(chat({{"user", russian}})).dominant, "Cyrillic");
    EXPECT_EQ(extract_features(chat({{"user", chinese}})).dominant, "Han");
    EXPECT_EQ(extract_features(chat({{"user", "明日の東京の天気を教えてください"}})).dominant, "Kana");
    EXPECT_EQ(extract_features(chat({{"user", "안녕하세요"}})).dominant, "Hangul");
    // The system prompt (English) does not outvote the user; it counts only when users wrote no letters.
    auto f = extract_features(chat({{"system", "You are a helpful assistant. Answer briefly."}, {"user", greek}}));
    EXPECT_EQ(f.dominant, "Greek");
    EXPECT_EQ(extract_features(chat({{"system", russian}, {"user", "1 + 1 = ?"}})).dominant, "Cyrillic");
    // Mixed: 4 Greek letters, 6 Latin ones -> Latin dominant, Greek share 0.4.
    auto mixed = extract_features(chat({{"user", "αβγδ abcdef"}}));
    EXPECT_EQ(mixed.dominant, "Latin");
    EXPECT_DOUBLE_EQ(mixed.share("Greek"), 0.4);
    EXPECT_EQ(extract_features(chat({{"user", "αβγ abc"}})).dominant, "Latin");  // a tie: the first listed
    EXPECT_EQ(extract_features(chat({{"user", "αβγ abc ЖЖЖ"}})).dominant, "");  // no script reaches half
    // Malformed UTF-8 is skipped, not fatal.
    EXPECT_EQ(extract_features(chat({{"user", std::string("\xff\xfe\xce") + "λλ"}})).dominant, "Greek");
    std::size_t at = 0;
    EXPECT_EQ(next_code_point("\xc0\xaf", at), U'\uFFFD');  // overlong
    EXPECT_EQ(at, 1u);
}

TEST(TextFeatures, ToolsImagesTurnsCodeCuesAndTokens) {
    json b = chat({{"user", "hi"}, {"assistant", "hello"}, {"user", "Why? Explain it step by step.\n```py\nx=1\n```\n"}});
    b["messages"].push_back({{"role", "user"},
                             {"content", json::array({{{"type", "text"}, {"text", "look"}},
                                                      {{"type", "image_url"}, {"image_url", {{"url", "x"}}}}})}});
    b["tools"] = json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}});
    auto f = extract_features(b);
    EXPECT_TRUE(f.has_tools);
    EXPECT_TRUE(f.has_images);
    EXPECT_EQ(f.turns, 3);
    EXPECT_EQ(f.messages, 4);
    EXPECT_EQ(f.code_blocks, 1);
    EXPECT_EQ(f.reasoning_cues, 3);  // why, explain, step by step
    EXPECT_EQ(extract_features(chat({{"user", "whyever explained"}})).reasoning_cues, 0);  // whole words only
    EXPECT_EQ(extract_features(chat({{"user", "why"}}), {"warum"}).reasoning_cues, 0);      // configured list
    EXPECT_DOUBLE_EQ(f.complexity, complexity_score(f.user_chars, 1, 3, 3));
    EXPECT_DOUBLE_EQ(complexity_score(0, 0, 0, 1), 0);
    EXPECT_DOUBLE_EQ(complexity_score(3000, 2, 3, 10), 1);
    EXPECT_DOUBLE_EQ(complexity_score(1500, 1, 0, 1), 0.15 + 0.1);
    EXPECT_EQ(estimate_text_tokens("abcdefgh"), 2);
    EXPECT_EQ(estimate_text_tokens("abcdefghi"), 3);
    EXPECT_EQ(estimate_text_tokens("北京天气"), 4);
    EXPECT_EQ(estimate_text_tokens("αβγδ"), 2);  // 8 bytes
    EXPECT_EQ(estimate_prompt_tokens(chat({{"user", "abcd"}})), 3 + 4 + 1);
    EXPECT_EQ(estimate_prompt_tokens(json{{"prompt", "abcdefgh"}}), 3 + 2);
    EXPECT_GT(f.prompt_tokens, image_tokens);
}

TEST(Router, NamesAliasesUnknown) {
    auto d = route("big", chat({{"user", "hi"}}));
    EXPECT_EQ(d.status, route_status::ok);
    EXPECT_EQ(d.chain, (chain_t{"big"}));
    EXPECT_EQ(d.header, "model=big; rule=name");
    auto a = route("t1", chat({{"user", "hi"}}));
    EXPECT_EQ(a.chain, (chain_t{"tiny"}));
    EXPECT_EQ(a.header, "model=tiny; rule=alias");
    auto s = route("small", chat({{"user", "hi"}}));
    EXPECT_EQ(s.chain, (chain_t{"small", "big"}));  // its fallback chain
    auto u = route("nope", chat({{"user", "hi"}}));
    EXPECT_EQ(u.status, route_status::unknown_model);
    EXPECT_EQ(u.http_status, 404);
    EXPECT_EQ(u.error_code, "model_not_found");
    EXPECT_EQ(route("gpt", chat({{"user", "hi"}})).status, route_status::unknown_model);  // off
}

TEST(Router, TierPrefersReadyThenFitsThenFirst) {
    auto body = chat({{"user", "hi"}});
    auto first = route("fast", body, "", {{"tiny", {false, false}}, {"small", {false, false}}});
    EXPECT_EQ(first.chain, (chain_t{"tiny", "small"}));
    EXPECT_EQ(first.header, "model=tiny; rule=tier; tier=fast; pick=first");
    auto fits = route("fast", body, "", {{"tiny", {false, false}}, {"small", {false, true}}});
    EXPECT_EQ(fits.chain.front(), "small");
    EXPECT_EQ(fits.rule, "tier fast: first that fits");
    auto ready = route("fast", body, "", {{"tiny", {false, true}}, {"small", {true, true}}});
    EXPECT_EQ(ready.chain, (chain_t{"small", "tiny", "big"}));
    EXPECT_EQ(ready.header, "model=small; rule=tier; tier=fast; pick=ready");
    // A member whose window is too small is passed over, even when ready.
    auto longer = chat({{"user", std::string(3000 * 4, 'a')}});
    auto d = route("fast", longer, "", {{"tiny", {true, true}}, {"small", {false, false}}});
    EXPECT_EQ(d.chain, (chain_t{"small", "big"}));  // tiny (2048) leaves the chain too
    // Tools: a member that declares no `tools` is passed over.
    json tools = chat({{"user", "hi"}});
    tools["tools"] = json::array({{{"type", "function"}}});
    EXPECT_EQ(route("vision", tools, "", {{"vision-7b", {true, true}}}).chain, (chain_t{"big"}));
}

TEST(Router, GlobsAndPatterns) {
    EXPECT_TRUE(glob_match("qwen*", "qwen"));
    EXPECT_TRUE(glob_match("qwen*", "qwen2.5-14b"));
    EXPECT_TRUE(glob_match("*-7b", "greek-7b"));
    EXPECT_TRUE(glob_match("a*b*c", "axxbyyc"));
    EXPECT_TRUE(glob_match("gpt-?o", "gpt-4o"));
    EXPECT_FALSE(glob_match("gpt-?o", "gpt-o"));
    EXPECT_FALSE(glob_match("qwen*", "Qwen"));
    EXPECT_FALSE(glob_match("a*b", "ac"));
    auto q = route("qwen2.5-72b-instruct", chat({{"user", "hi"}}));
    EXPECT_EQ(q.chain, (chain_t{"qwen2.5-7b", "tiny"}));
    EXPECT_EQ(q.header, "model=qwen2.5-7b; rule=pattern:qwen*");
    auto g = route("gpt-4o-mini", chat({{"user", "hi"}}));
    EXPECT_EQ(g.chain, (chain_t{"big"}));
    EXPECT_EQ(g.header, "model=big; rule=pattern:gpt-?o*; tier=complex");
}

TEST(Router, AutoRulesInOrder) {
    auto roll = route("auto", chat({{"user", greek}}), "dice_rolling");  // rule 1 wins over rule 3
    EXPECT_EQ(roll.chain.front(), "tiny");
    EXPECT_EQ(roll.header, "model=tiny; rule=auto:1:task_type=dice_rolling; tier=fast; pick=ready");
    auto el = route("auto", chat({{"system", "You are a helpful assistant."}, {"user", greek}}));
    EXPECT_EQ(el.chain, (chain_t{"greek-7b"}));
    EXPECT_EQ(el.header, "model=greek-7b; rule=auto:3:script=Greek");
    EXPECT_EQ(el.rule, "auto rule 3 (script=Greek) -> greek-7b");
    EXPECT_EQ(route("auto", chat({{"user", russian}})).chain.front(), "ru-7b");
    EXPECT_EQ(route("auto", chat({{"user", chinese}})).chain.front(), "qwen2.5-7b");
    // Mixed script: 35% Han passes rule 5's min_share 0.3; 40% Greek misses rule 3's default 0.5.
    auto han = route("auto", chat({{"user", "北京天气怎么样吗 abcdefghijklmno"}}));
    EXPECT_EQ(han.chain.front(), "qwen2.5-7b");
    EXPECT_NE(han.header.find("rule=auto:5:script=Han"), std::string::npos) << han.header;
    EXPECT_EQ(route("auto", chat({{"user", "αβγδ abcdef"}})).header, "model=tiny; rule=auto:9:complexity_below=0.2; tier=fast; pick=ready");

    json img = chat({{"user", "what is this"}});
    img["messages"][0]["content"] = json::array({{{"type", "input_image"}, {"image_url", "x"}}});
    EXPECT_EQ(route("auto", img).chain.front(), "vision-7b");
    json tools = chat({{"user", "call it"}});
    tools["tools"] = json::array({{{"type", "function"}}});
    auto t = route("auto", tools, "", {{"small", {false, true}}, {"big", {true, true}}});
    EXPECT_EQ(t.chain.front(), "big");
    EXPECT_EQ(t.header, "model=big; rule=auto:6:has_tools=true; pick=ready");
    auto huge = route("auto", chat({{"user", std::string(31000 * 4, 'a')}}));
    EXPECT_EQ(huge.chain.front(), "big");
    EXPECT_NE(huge.header.find("rule=auto:7:min_context=30000"), std::string::npos);
    json hard = chat({{"user", "Prove step by step why sqrt 2 is irrational; explain the theorem.\n```\na\n```\n```\nb\n```"}});
    auto h = route("auto", hard);
    EXPECT_GE(h.features.complexity, 0.6);
    EXPECT_EQ(h.header, "model=big; rule=auto:8:complexity_at_least=0.6; tier=complex");  // one candidate: no pick
    EXPECT_EQ(route("auto", chat({{"user", "Roll a d20"}})).chain.front(), "tiny");
    auto mid = route("auto", chat({{"user", "Explain why the sky is blue."}}));  // 0.27: no rule
    EXPECT_EQ(mid.header, "model=small; rule=auto:default; tier=default; pick=ready");
}

TEST(Router, OverflowMovesTrimsOrRejects) {
    auto longer = chat({{"user", std::string(5000 * 4, 'a')}});  // ~5000 tokens
    auto moved = route("small", longer);
    EXPECT_EQ(moved.overflow, overflow_kind::moved);
    EXPECT_EQ(moved.chain, (chain_t{"big"}));
    EXPECT_EQ(moved.overflowed, "small");
    EXPECT_EQ(moved.context_window, 4096);
    EXPECT_EQ(moved.header, "model=big; rule=name; overflow=next:small");

    auto no_next = route("tiny", longer);  // overflow next, nothing larger on its chain
    EXPECT_EQ(no_next.status, route_status::context_length_exceeded);
    EXPECT_EQ(no_next.http_status, 400);
    EXPECT_EQ(no_next.error_code, "context_length_exceeded");
    EXPECT_NE(no_next.error_message.find("maximum context length is 2048 tokens"), std::string::npos);
    EXPECT_TRUE(no_next.chain.empty());
    EXPECT_EQ(no_next.header, "model=tiny; rule=name; overflow=reject");

    auto rejected = route("big", chat({{"user", std::string(40000 * 4, 'a')}}));  // overflow: reject
    EXPECT_EQ(rejected.status, route_status::context_length_exceeded);
    EXPECT_EQ(rejected.prompt_tokens, 40000 + 3 + 4);

    // qwen: window 8192, overflow trim; three old turns of ~2000 tokens each.
    std::string k(2000 * 4, 'a');
    json conv = chat({{"system", "sys"}, {"user", k}, {"assistant", "ok"}, {"user", k}, {"assistant", "ok"},
                      {"user", k}, {"assistant", "ok"}, {"user", "and now?"}});
    conv["max_tokens"] = 5000;
    auto tr = route("qwen2.5-7b", conv);
    ASSERT_EQ(tr.overflow, overflow_kind::trim) << tr.rule;
    EXPECT_EQ(tr.trim_turns, 2);
    EXPECT_EQ(tr.chain, (chain_t{"qwen2.5-7b"}));  // tiny cannot hold even the trimmed prompt
    EXPECT_EQ(tr.header, "model=qwen2.5-7b; rule=name; overflow=trim:2");
    json trimmed = conv;
    EXPECT_EQ(trim_oldest_turns(trimmed, tr.trim_turns), 4);
    EXPECT_LE(estimate_prompt_tokens(trimmed) + 5000, 8192);
    conv["max_tokens"] = 8190;  // the final turn alone leaves no room
    EXPECT_EQ(route("qwen2.5-7b", conv).status, route_status::context_length_exceeded);
    // A completions prompt cannot be trimmed.
    EXPECT_EQ(route("qwen2.5-7b", json{{"prompt", std::string(9000 * 4, 'a')}}).overflow, overflow_kind::reject);
}

TEST(Router, TrimKeepsSystemToolPairsAndTheLastUserMessage) {
    json b = chat({{"system", "s"}, {"user", "u1"}});
    b["messages"].push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({{{"id", "c1"}}})}});
    b["messages"].push_back({{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "42"}});
    for (auto [role, text] : {std::pair{"assistant", "a1"}, {"user", "u2"}, {"assistant", "a2"}, {"user", "u3"}})
        b["messages"].push_back({{"role", role}, {"content", text}});
    json one = b;
    EXPECT_EQ(trim_oldest_turns(one, 1), 4);  // u1, its tool call, the result and a1 go together
    ASSERT_EQ(one["messages"].size(), 4u);
    EXPECT_EQ(one["messages"][0]["content"], "s");
    EXPECT_EQ(one["messages"][1]["content"], "u2");
    json most = b;
    EXPECT_EQ(trim_oldest_turns(most, 10), 6);  // never the last user message
    ASSERT_EQ(most["messages"].size(), 2u);
    EXPECT_EQ(most["messages"][1]["content"], "u3");
    json lead = chat({{"assistant", "welcome"}, {"system", "s"}, {"user", "u1"}, {"user", "u2"}});
    EXPECT_EQ(trim_oldest_turns(lead, 5), 2);
    EXPECT_EQ(lead["messages"].size(), 2u);
    EXPECT_EQ(turns_to_trim(b, 0, 100000), 0);
}

TEST(Router, DefaultsOnlyWhereAbsentAndCapsClamp) {
    json b = chat({{"user", "hi"}});
    b["temperature"] = 0.1;
    b["top_p"] = nullptr;  // null counts as absent
    auto d = route("tiny", b);
    EXPECT_EQ(d.edits, (std::vector<param_edit>{{"stop", "[\"\\n\\n\"]", "default:model"}, {"top_p", "0.9", "default:model"}}));
    apply_edits(b, d.edits);
    EXPECT_EQ(b["temperature"], 0.1);
    EXPECT_EQ(b["top_p"], 0.9);
    EXPECT_FALSE(b.contains("max_tokens"));  // a cap sets no value of its own

    json big = chat({{"user", "hi"}});
    big["max_tokens"] = 1000;
    big["max_completion_tokens"] = 999;
    auto c = route("tiny", big);
    apply_edits(big, c.edits);
    EXPECT_EQ(big["max_tokens"], 256);
    EXPECT_EQ(big["max_completion_tokens"], 256);
    EXPECT_EQ(c.max_tokens, 256);

    // Task defaults come first and the lower cap wins.
    json task = chat({{"user", "roll"}});
    auto t = route("tiny", task, "dice_rolling");
    apply_edits(task, t.edits);
    EXPECT_EQ(task["temperature"], 0.2);
    EXPECT_EQ(task["max_tokens"], 64);
    EXPECT_EQ(task["top_p"], 0.9);
    json over = chat({{"user", "roll"}});
    over["max_tokens"] = 500;
    auto o = route("tiny", over, "dice_rolling");
    ASSERT_FALSE(o.edits.empty());
    EXPECT_EQ(o.edits.back(), (param_edit{"max_tokens", "100", "cap:task"}));
    // Task defaults count toward the context check: 64 more tokens.
    EXPECT_EQ(route("big", chat({{"user", "hi"}}), "dice_rolling").max_tokens, 64);
}

}  // namespace
}  // namespace swapgate::routing
