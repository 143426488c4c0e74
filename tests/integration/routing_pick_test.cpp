// Which model answers: `auto` rules, tiers, defaults and caps per hop, context
// overflow, unknown names.
#include "routing_helpers.hpp"

namespace swapgate::test {
namespace {

// ---- 7. auto -------------------------------------------------------------------------

const std::string auto_yaml = R"(models:
  - {name: general, backend: up}
  - {name: greek, backend: up, languages: [el]}
  - {name: small, backend: up}
  - {name: small2, backend: up}
  - {name: tooly, backend: up, capabilities: [tools]}
  - {name: seer, backend: up, capabilities: [vision]}
routing:
  tiers:
    fast: [small, small2]
  auto:
    default: general
    rules:
      - {if: {task_type: dice_rolling}, then: fast}
      - {if: {has_images: true}}
      - {if: {script: Greek}}
      - {if: {has_tools: true}}
  task_defaults:
    dice_rolling: {temperature: 0.2, max_tokens: 64}
)";

TEST(Routing, AutoRoutesByScriptTaskToolsAndImages) {
    scripted_upstream up;
    up.push(ok_reply());
    auto proxy = start_proxy("backends:\n" + backend("up", url_of(up.port())) + auto_yaml);
    auto last_body = [&] { return body_of(up.requests().back()); };

    auto greek = post_chat(proxy->port(),
                           R"({"model":"auto","messages":[{"role":"system","content":"You are a helpful assistant."},)"
                           R"({"role":"user","content":"Καλημέρα! Τι καιρό θα κάνει αύριο στην Αθήνα;"}]})");
    EXPECT_EQ(greek.status, 200) << greek.body;
    EXPECT_EQ(route_of(greek), "model=greek; rule=auto:3:script=Greek");
    EXPECT_EQ(last_body().value("model", ""), "greek");

    auto english = post_chat(proxy->port(), R"({"model":"auto","messages":[{"role":"user","content":"What is the weather tomorrow?"}]})");
    EXPECT_EQ(english.status, 200);
    EXPECT_EQ(route_of(english), "model=general; rule=auto:default");
    EXPECT_EQ(last_body().value("model", ""), "general");

    // Task defaults fill only what the request leaves out.
    auto dice = post_chat(proxy->port(),
                          R"({"model":"auto","temperature":0.9,"messages":[{"role":"user","content":"Roll a d20"}]})",
                          {{"X-Task-Type", "dice_rolling"}});
    EXPECT_EQ(dice.status, 200);
    EXPECT_EQ(route_of(dice), "model=small; rule=auto:1:task_type=dice_rolling; tier=fast; pick=ready");
    auto b = last_body();
    EXPECT_EQ(b.value("model", ""), "small");
    EXPECT_EQ(b["temperature"], 0.9) << b.dump();
    EXPECT_EQ(b["max_tokens"], 64) << b.dump();
    auto dice2 = post_chat(proxy->port(),
                           R"({"model":"auto","max_tokens":10,"messages":[{"role":"user","content":"Roll a d6"}]})",
                           {{"X-Task-Type", "dice_rolling"}});
    EXPECT_EQ(dice2.status, 200);
    b = last_body();
    EXPECT_EQ(b["temperature"], 0.2) << b.dump();
    EXPECT_EQ(b["max_tokens"], 10) << b.dump();

    auto tools = post_chat(proxy->port(),
                           R"({"model":"auto","messages":[{"role":"user","content":"What time is it?"}],)"
                           R"("tools":[{"type":"function","function":{"name":"now","parameters":{"type":"object"}}}]})");
    EXPECT_EQ(tools.status, 200);
    EXPECT_EQ(route_of(tools).rfind("model=tooly; rule=auto:4:", 0), 0u) << route_of(tools);
    EXPECT_EQ(last_body().value("model", ""), "tooly");

    auto image = post_chat(proxy->port(),
                           R"({"model":"auto","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},)"
                           R"({"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]})");
    EXPECT_EQ(image.status, 200);
    EXPECT_EQ(route_of(image).rfind("model=seer; rule=auto:2:", 0), 0u) << route_of(image);
    EXPECT_EQ(last_body().value("model", ""), "seer");

    EXPECT_EQ(up.requests().size(), 6u);
    auto m = metrics_of(proxy->port());
    EXPECT_EQ(metric_value(m, R"(swapgate_route_decisions_total{rule="auto"})"), 5) << m;
    EXPECT_EQ(metric_value(m, R"(swapgate_route_decisions_total{rule="auto_default"})"), 1) << m;
}

// ---- 8. tiers and caps -------------------------------------------------------------------

TEST(Routing, TierPicksItsFirstModelAndCapsClampMaxTokens) {
    scripted_upstream up;
    up.push(ok_reply());
    auto proxy = start_proxy("backends:\n" + backend("up", url_of(up.port())) +
                             "models:\n"
                             "  - {name: a, backend: up, caps: {max_tokens: 100}}\n"
                             "  - {name: b, backend: up}\n"
                             "routing:\n  tiers:\n    fast: [a, b]\n");
    auto last_body = [&] { return body_of(up.requests().back()); };

    auto r = post_chat(proxy->port(), chat_body("fast", false, R"("max_tokens":500)"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(route_of(r), "model=a; rule=tier; tier=fast; pick=ready");
    auto b = last_body();
    EXPECT_EQ(b.value("model", ""), "a");
    EXPECT_EQ(b["max_tokens"], 100) << b.dump();

    post_chat(proxy->port(), chat_body("fast", false, R"("max_tokens":50)"));
    EXPECT_EQ(last_body()["max_tokens"], 50);
    post_chat(proxy->port(), chat_body("fast", false, R"("max_completion_tokens":300)"));
    EXPECT_EQ(last_body()["max_completion_tokens"], 100) << last_body().dump();
    // A cap never adds the field.
    post_chat(proxy->port(), chat_body("fast", false));
    EXPECT_FALSE(last_body().contains("max_tokens")) << last_body().dump();
    // By name, too.
    auto byname = post_chat(proxy->port(), chat_body("a", false, R"("max_tokens":900)"));
    EXPECT_EQ(route_of(byname), "model=a; rule=name");
    EXPECT_EQ(last_body()["max_tokens"], 100);

    auto m = metrics_of(proxy->port());
    EXPECT_EQ(metric_value(m, R"(swapgate_route_decisions_total{rule="tier"})"), 4) << m;
}

// ROUTING.md, "For the caller": a later hop gets parameter_edits() of its own on
// the original body, not the edits made for chain[0].
TEST(Routing, ALaterHopGetsItsOwnDefaultsAndCapsNotTheFirstHops) {
    scripted_upstream up;
    up.push(ok_reply("b"));
    auto proxy = start_proxy("backends:\n" + backend("dead", dead_url()) + backend("up", url_of(up.port())) +
                             "models:\n"
                             "  - {name: a, backend: dead, caps: {max_tokens: 100}, defaults: {temperature: 0.1}}\n"
                             "  - {name: b, backend: up, caps: {max_tokens: 1000}}\n"
                             "routing:\n  tiers:\n    fast: [a, b]\n");
    auto r = post_chat(proxy->port(), chat_body("fast", false, R"("max_tokens":500)"));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(has(route_of(r), "failed=a:connect; served_by=b")) << route_of(r);
    ASSERT_EQ(up.requests().size(), 1u);
    auto b = body_of(up.requests().back());
    EXPECT_EQ(b.value("model", ""), "b");
    EXPECT_EQ(b["max_tokens"], 500) << "a's cap reached b: " << b.dump();
    EXPECT_FALSE(b.contains("temperature")) << "a's default reached b: " << b.dump();
}

// ---- 9. context overflow ------------------------------------------------------------------

std::string words(int chars, char c) { return std::string(static_cast<size_t>(chars), c); }

TEST(Routing, ContextOverflowMovesTrimsOrRejects) {
    scripted_upstream up;
    up.push(ok_reply());
    auto proxy = start_proxy("backends:\n" + backend("up", url_of(up.port())) +
                             "models:\n"
                             "  - {name: tiny, backend: up, context_window: 200, fallback: [big]}\n"
                             "  - {name: big, backend: up, context_window: 100000}\n"
                             "  - {name: trimmer, backend: up, context_window: 200, overflow: trim}\n"
                             "  - {name: strict, backend: up, context_window: 200, overflow: reject}\n");
    // ~100 tokens per long message (400 bytes / 4), 5 short ones: about 340 in all.
    auto conversation = [&](const std::string& model) {
        json msgs = json::array({
            {{"role", "system"}, {"content", "You are terse."}},
            {{"role", "user"}, {"content", words(400, 'a')}},
            {{"role", "assistant"}, {"content", "ok1"}},
            {{"role", "user"}, {"content", words(400, 'b')}},
            {{"role", "assistant"}, {"content", "ok2"}},
            {{"role", "user"}, {"content", words(400, 'c')}},
            {{"role", "assistant"}, {"content", "ok3"}},
            {{"role", "user"}, {"content", "final question?"}},
        });
        return json{{"model", model}, {"messages", msgs}}.dump();
    };

    auto moved = post_chat(proxy->port(), conversation("tiny"));
    EXPECT_EQ(moved.status, 200) << moved.body;
    EXPECT_EQ(route_of(moved), "model=big; rule=name; overflow=next:tiny");
    ASSERT_EQ(up.requests().size(), 1u);
    EXPECT_EQ(body_of(up.requests().back()).value("model", ""), "big");

    auto trimmed = post_chat(proxy->port(), conversation("trimmer"));
    EXPECT_EQ(trimmed.status, 200) << trimmed.body;
    EXPECT_EQ(route_of(trimmed), "model=trimmer; rule=name; overflow=trim:2");
    ASSERT_EQ(up.requests().size(), 2u);
    auto b = body_of(up.requests().back());
    EXPECT_EQ(b.value("model", ""), "trimmer");
    std::vector<std::string> contents;
    for (const auto& m : b["messages"]) contents.push_back(m.value("content", ""));
    std::vector<std::string> want{"You are terse.", words(400, 'c'), "ok3", "final question?"};
    EXPECT_EQ(contents, want);
    EXPECT_EQ(b["messages"][0].value("role", ""), "system");
    EXPECT_EQ(b["messages"].back().value("role", ""), "user");

    auto rejected = post_chat(proxy->port(), conversation("strict"));
    EXPECT_EQ(rejected.status, 400) << rejected.body;
    auto e = json::parse(rejected.body, nullptr, false);
    ASSERT_TRUE(e.is_object() && e.contains("error")) << rejected.body;
    EXPECT_EQ(e["error"].value("code", ""), "context_length_exceeded") << rejected.body;
    EXPECT_TRUE(has(e["error"].value("message", ""), "maximum context length is 200 tokens")) << rejected.body;
    EXPECT_EQ(up.requests().size(), 2u) << "a rejected request reached the backend";
    // ROUTING.md: "model=tiny; rule=name; overflow=reject (with the 400)".
    EXPECT_EQ(route_of(rejected), "model=strict; rule=name; overflow=reject");
}

TEST(Routing, UnknownModelIs404WithTheRouteHeader) {
    scripted_upstream up;
    up.push(ok_reply());
    auto proxy = start_proxy("backends:\n" + backend("up", url_of(up.port())) + auto_yaml);
    auto r = post_chat(proxy->port(), chat_body("no-such-model", false));
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_TRUE(has(r.body, "model_not_found")) << r.body;
    EXPECT_EQ(up.requests().size(), 0u);
    // ROUTING.md: "rule=unknown (with the 404)".
    EXPECT_EQ(route_of(r), "rule=unknown");
}

}  // namespace
}  // namespace swapgate::test
