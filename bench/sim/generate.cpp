#include "bench/sim/generate.hpp"

#include <nlohmann/json.hpp>

#include "bench/sim/hash.hpp"

namespace swapgate::sim {
namespace {

constexpr size_t fragment_chars = 6;

std::string_view pick(prng& rng) {
    auto v = vocabulary();
    return v[rng.below(v.size())];
}

std::string tool_arguments(const gen_request& r, prng& rng) {
    using json = nlohmann::json;
    json args = json::object();
    auto word = [&] { return std::string(pick(rng).substr(1)); };
    if (r.tool_params.empty()) args["input"] = word() + " " + word();
    for (const auto& p : r.tool_params) {
        if (p.type == "integer") args[p.name] = static_cast<int64_t>(rng.below(100));
        else if (p.type == "number") args[p.name] = static_cast<double>(rng.below(1000)) / 10.0;
        else if (p.type == "boolean") args[p.name] = (rng.next() & 1) != 0;
        else if (p.type == "array") args[p.name] = json::array({word()});
        else if (p.type == "object") args[p.name] = json::object();
        else args[p.name] = word() + " " + word();
    }
    return args.dump(-1, ' ', true, json::error_handler_t::replace);
}

}  // namespace

size_t reply_plan::stream_tokens() const {
    return reasoning.size() + (tool_call ? 1 + arg_fragments.size() : content.size());
}

uint64_t reply_hash(std::string_view model, const gen_request& r) {
    uint64_t h = fnv1a(model);
    h = combine(h, static_cast<uint64_t>(r.kind));
    h = combine(h, fnv1a(r.canonical_input));
    h = combine(h, r.seed.empty() ? 0x5eedull : fnv1a(r.seed));
    h = combine(h, static_cast<uint64_t>(r.max_tokens));
    return h;
}

reply_plan plan_reply(std::string_view model, const gen_request& r, int64_t reply_tokens) {
    reply_plan p;
    p.hash = reply_hash(model, r);
    p.prompt_tokens = r.prompt_tokens;

    prng thoughts(p.hash ^ 0x7265617375ull);
    p.reasoning.reserve(static_cast<size_t>(r.sim.reasoning_tokens));
    if (r.kind == endpoint::chat)
        for (int64_t i = 0; i < r.sim.reasoning_tokens; ++i) p.reasoning.push_back(pick(thoughts));

    prng rng(p.hash);
    if (r.tool_call) {
        p.tool_call = true;
        p.tool_id = "call_" + hex_id(p.hash);
        p.tool_name = r.tool_name;
        p.tool_args = tool_arguments(r, rng);
        for (size_t i = 0; i < p.tool_args.size(); i += fragment_chars)
            p.arg_fragments.push_back(p.tool_args.substr(i, fragment_chars));
        p.finish_reason = "tool_calls";
        p.completion_tokens = static_cast<int64_t>(p.reasoning.size() + p.arg_fragments.size());
        return p;
    }
    int64_t n = r.sim.tokens >= 0 ? r.sim.tokens
                : reply_tokens > 0 ? reply_tokens
                                   : 8 + static_cast<int64_t>(mix64(p.hash) % 24);
    if (r.max_tokens >= 0 && r.max_tokens < n) {
        n = r.max_tokens;
        p.finish_reason = "length";
    }
    p.content.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) p.content.push_back(pick(rng));
    p.completion_tokens = static_cast<int64_t>(p.reasoning.size() + p.content.size());
    return p;
}

std::string join(const std::vector<std::string_view>& tokens) {
    size_t n = 0;
    for (auto t : tokens) n += t.size();
    std::string out;
    out.reserve(n);
    for (auto t : tokens) out += t;
    return out;
}

std::string hex_id(uint64_t h) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(24, '0');
    uint64_t a = mix64(h), b = mix64(h ^ 0xabcdefull);
    for (int i = 0; i < 16; ++i) out[i] = digits[(a >> (4 * i)) & 15];
    for (int i = 0; i < 8; ++i) out[16 + i] = digits[(b >> (4 * i)) & 15];
    return out;
}

}  // namespace swapgate::sim
