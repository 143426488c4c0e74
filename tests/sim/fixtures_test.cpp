// The sim's wire format against recorded OpenAI, llama-server, Ollama and vLLM
// responses (tests/fixtures, see SOURCES.md there). What is compared is the
// shape: field names, JSON types, and the sequence of stream chunk kinds.
// Values (ids, text, timestamps) differ by nature.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "sim_helpers.hpp"

using namespace swapgate::sim_test;

namespace {

using keys = std::set<std::string>;

// Keys recorded servers send that the sim leaves out on purpose (billing, tracing, padding, perf).
const keys not_simulated = {"service_tier", "obfuscation", "refusal", "annotations", "prompt_tokens_details",
                            "completion_tokens_details", "timings"};

std::string read_text(const std::string& rel) {
    std::ifstream in(std::string(SWAPGATE_FIXTURES_DIR) + "/" + rel);
    if (!in) throw std::runtime_error("missing fixture " + rel);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

json fixture(const std::string& rel) { return json::parse(read_text(rel)); }

// The data payloads of an SSE file.
std::vector<json> fixture_stream(const std::string& rel) {
    std::vector<json> out;
    std::istringstream in(read_text(rel));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("data: ", 0) != 0) continue;
        std::string payload = line.substr(6);
        out.push_back(payload == "[DONE]" ? json(payload) : json::parse(payload));
    }
    return out;
}

std::string type_name(const json& j) {
    if (j.is_number_integer()) return "integer";
    if (j.is_number()) return "number";
    return j.type_name();
}

// Collects differences between the shape of `want` (recorded) and `got` (sim).
// A null in the recording accepts any value; `extra` lists keys the sim may add.
void shape_diff(const json& want, const json& got, const std::string& path, const keys& extra,
                std::vector<std::string>& diffs) {
    if (want.is_null()) return;
    bool numbers = want.is_number() && got.is_number() && (want.is_number_float() || got.is_number_integer());
    if (type_name(want) != type_name(got) && !numbers) {
        diffs.push_back(path + ": recorded " + type_name(want) + ", sim " + type_name(got));
        return;
    }
    if (want.is_object()) {
        for (auto& [k, v] : want.items()) {
            if (not_simulated.count(k)) continue;
            if (!got.contains(k)) diffs.push_back(path + "." + k + ": missing in sim");
            else shape_diff(v, got[k], path + "." + k, extra, diffs);
        }
        for (auto& [k, v] : got.items())
            if (!want.contains(k) && !extra.count(k)) diffs.push_back(path + "." + k + ": not in the recording");
    } else if (want.is_array() && !want.empty() && !got.empty()) {
        shape_diff(want[0], got[0], path + "[0]", extra, diffs);
    }
}

std::string shape_report(const json& want, const json& got, const keys& extra = {}) {
    std::vector<std::string> diffs;
    shape_diff(want, got, "$", extra, diffs);
    std::string out;
    for (auto& d : diffs) out += d + "\n";
    return out;
}

// What a chunk is, for sequence comparison.
std::string kind(const json& chunk) {
    if (chunk.is_string()) return "done";
    if (chunk.contains("choices") && chunk["choices"].empty()) return "usage";
    const json& c = chunk["choices"][0];
    const json& d = c.contains("delta") ? c["delta"] : json::object();
    if (c.contains("finish_reason") && !c["finish_reason"].is_null()) return "finish";
    if (d.contains("tool_calls")) return d["tool_calls"][0].contains("id") ? "tool_header" : "tool_args";
    if (d.contains("role")) return "role";
    if (d.contains("reasoning_content")) return "reasoning";
    return "content";
}

// Kinds with runs collapsed: role, content, content, finish -> role content+ finish.
std::vector<std::string> sequence(const std::vector<json>& chunks) {
    std::vector<std::string> out;
    for (const auto& c : chunks) {
        std::string k = kind(c);
        if (!out.empty() && (out.back() == k || out.back() == k + "+")) {
            out.back() = k + "+";
            continue;
        }
        out.push_back(k);
    }
    for (auto& k : out)
        if (k.back() != '+' && (k == "content" || k == "reasoning" || k == "tool_args")) k += "+";
    return out;
}

// Compares each chunk kind's first occurrence.
void expect_same_chunks(const std::vector<json>& want, const std::vector<json>& got, const keys& extra = {}) {
    EXPECT_EQ(sequence(got), sequence(want));
    std::set<std::string> seen;
    for (const auto& w : want) {
        std::string k = kind(w);
        if (k == "done" || !seen.insert(k).second) continue;
        for (const auto& g : got)
            if (kind(g) == k) {
                EXPECT_EQ(shape_report(w, g, extra), "") << "chunk kind " << k;
                break;
            }
    }
}

json tools() {
    return json::array({{{"type", "function"},
                         {"function",
                          {{"name", "get_weather"},
                           {"parameters", {{"type", "object"}, {"properties", {{"location", {{"type", "string"}}}}}}}}}}});
}

class SimFixtures : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        sim_ = start_sim({"--memory-mb", "4000", "--model", "m", "--model", "o,loaded=0"}).release();
        ASSERT_TRUE(swapgate::test::eventually([] { return call(sim_->port(), "GET", "/health").status == 200; }, 5s));
    }
    static void TearDownTestSuite() {
        delete sim_;
        sim_ = nullptr;
    }
    static int port() { return sim_->port(); }
    static swapgate::test::child* sim_;
};
swapgate::test::child* SimFixtures::sim_ = nullptr;

}  // namespace

TEST_F(SimFixtures, OpenAiChatCompletion) {
    auto r = call(port(), "POST", "/v1/chat/completions", chat("hi", {{"model", "m"}}));
    EXPECT_EQ(shape_report(fixture("openai/chat_completion.json"), r.body), "");
}

TEST_F(SimFixtures, OpenAiChatStream) {
    auto got = stream(port(), "/v1/chat/completions",
                      chat("hi", {{"model", "m"}, {"stream", true}, {"stream_options", {{"include_usage", true}}}}));
    expect_same_chunks(fixture_stream("openai/chat_stream.sse"), got);
}

TEST_F(SimFixtures, OpenAiToolCall) {
    auto r = call(port(), "POST", "/v1/chat/completions", chat("weather?", {{"model", "m"}, {"tools", tools()}}));
    // the documentation example has no system_fingerprint; newer responses do
    EXPECT_EQ(shape_report(fixture("openai/chat_tool_call.json"), r.body, {"system_fingerprint"}), "");
}

TEST_F(SimFixtures, OpenAiToolCallStream) {
    auto got = stream(port(), "/v1/chat/completions",
                      chat("weather?", {{"model", "m"}, {"stream", true}, {"tools", tools()}}));
    expect_same_chunks(fixture_stream("openai/chat_tool_call_stream.sse"), got);
}

TEST_F(SimFixtures, OpenAiCompletion) {
    auto r = call(port(), "POST", "/v1/completions", json{{"model", "m"}, {"prompt", "Say this is a test"}});
    EXPECT_EQ(shape_report(fixture("openai/completion.json"), r.body), "");
}

TEST_F(SimFixtures, OpenAiEmbeddings) {
    auto r = call(port(), "POST", "/v1/embeddings", json{{"model", "m"}, {"input", "The food was delicious"}});
    EXPECT_EQ(shape_report(fixture("openai/embeddings.json"), r.body), "");
    EXPECT_EQ(shape_report(fixture("llama-server/embeddings.json"), r.body), "");
}

TEST_F(SimFixtures, OpenAiModelsAndErrors) {
    EXPECT_EQ(shape_report(fixture("openai/models.json"), call(port(), "GET", "/v1/models").body), "");
    auto missing = call(port(), "POST", "/v1/chat/completions", chat("x", {{"model", "gpt-4o"}}));
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(shape_report(fixture("openai/error_404_model.json"), missing.body), "");
    EXPECT_EQ(missing.body["error"]["code"], "model_not_found");
}

TEST_F(SimFixtures, LlamaServerReasoningStream) {
    auto got = stream(port(), "/v1/chat/completions",
                      chat("hi", {{"model", "m"},
                                  {"stream", true},
                                  {"stream_options", {{"include_usage", true}}},
                                  {"sim", {{"reasoning_tokens", 4}}}}));
    // llama-server sends no "usage":null on ordinary chunks; OpenAI does and so does the sim
    expect_same_chunks(fixture_stream("llama-server/chat_stream.sse"), got, {"usage", "logprobs"});
}

TEST_F(SimFixtures, LlamaServerChatCompletionWithReasoning) {
    auto r = call(port(), "POST", "/v1/chat/completions",
                  chat("hi", {{"model", "m"}, {"sim", {{"reasoning_tokens", 4}}}}));
    EXPECT_EQ(shape_report(fixture("llama-server/chat_completion.json"), r.body, {"logprobs"}), "");
}

TEST_F(SimFixtures, LlamaServerHealth) {
    EXPECT_EQ(shape_report(fixture("llama-server/health_ok.json"), call(port(), "GET", "/health").body), "");
    auto loading = start_sim({"--model", "x,load_ms=5000"});
    auto h = call(loading->port(), "GET", "/health");
    EXPECT_EQ(h.status, 503);
    EXPECT_EQ(h.body, fixture("llama-server/health_loading.json"));  // exact, not only the shape
}

TEST_F(SimFixtures, OllamaManagement) {
    auto load = call(port(), "POST", "/api/generate", json{{"model", "o"}});
    ASSERT_EQ(load.status, 200);
    // this doc version omits done_reason on loads; current Ollama sends "load"
    EXPECT_EQ(shape_report(fixture("ollama/api_generate_load.json"), load.body, {"done_reason"}), "");
    auto ps = call(port(), "GET", "/api/ps");
    EXPECT_EQ(shape_report(fixture("ollama/api_ps.json"), ps.body), "");
    // older tags docs have no "model" and no "parent_model"
    EXPECT_EQ(shape_report(fixture("ollama/api_tags.json"), call(port(), "GET", "/api/tags").body,
                           {"model", "parent_model"}),
              "");
    auto chat_load = call(port(), "POST", "/api/chat", json{{"model", "o"}, {"messages", json::array()}});
    EXPECT_EQ(shape_report(fixture("ollama/api_chat_load.json"), chat_load.body), "");
    auto chat_unload = call(port(), "POST", "/api/chat", json{{"model", "o"}, {"messages", json::array()}, {"keep_alive", 0}});
    EXPECT_EQ(shape_report(fixture("ollama/api_chat_unload.json"), chat_unload.body), "");
    call(port(), "POST", "/api/generate", json{{"model", "o"}});
    auto unload = call(port(), "POST", "/api/generate", json{{"model", "o"}, {"keep_alive", 0}});
    EXPECT_EQ(shape_report(fixture("ollama/api_generate_unload.json"), unload.body), "");
}

TEST_F(SimFixtures, VllmIsSleeping) {
    EXPECT_EQ(shape_report(fixture("vllm/is_sleeping.json"), call(port(), "GET", "/is_sleeping?model=m").body), "");
}

TEST(SimFixtureTools, ShapeDiffCatchesDifferences) {
    json want = json::parse(R"({"a":1,"b":{"c":"x"},"d":[{"e":true}],"n":null})");
    EXPECT_EQ(shape_report(want, json::parse(R"({"a":2,"b":{"c":"y"},"d":[{"e":false}],"n":5})")), "");
    EXPECT_NE(shape_report(want, json::parse(R"({"a":"2","b":{"c":"y"},"d":[{"e":false}],"n":5})")), "");
    EXPECT_NE(shape_report(want, json::parse(R"({"a":2,"b":{},"d":[{"e":false}],"n":5})")), "");
    EXPECT_NE(shape_report(want, json::parse(R"({"a":2,"b":{"c":"y"},"d":[{"e":false}],"n":5,"z":1})")), "");
}
