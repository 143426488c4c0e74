#include "bench/load/workload.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

namespace swapgate::bench {
namespace {

constexpr std::array<std::string_view, 64> vocabulary{
    "the", "model", "answer", "question", "river", "stone", "light", "system", "network", "proxy",
    "cache", "token", "stream", "garden", "window", "signal", "engine", "winter", "summer", "ocean",
    "paper", "number", "simple", "quick", "brown", "forest", "mountain", "city", "library", "music",
    "history", "science", "kitchen", "market", "bridge", "planet", "silver", "orange", "purple", "yellow",
    "describe", "explain", "write", "list", "compare", "summarize", "translate", "count", "build", "measure",
    "about", "with", "from", "under", "over", "between", "after", "before", "during", "while",
    "please", "briefly", "carefully", "today"};

constexpr std::uint64_t pool_stream = 0x706f6f6c00000000ULL;  // keeps pool prompts apart from request draws

void append_words(std::string& out, rng& r, unsigned words) {
    for (unsigned i = 0; i < words; ++i) {
        out.push_back(' ');
        out.append(vocabulary[r.next() % vocabulary.size()]);
    }
}

}  // namespace

std::optional<endpoint> parse_endpoint(std::string_view s) {
    if (s == "chat") return endpoint::chat;
    if (s == "completions") return endpoint::completions;
    if (s == "embeddings") return endpoint::embeddings;
    return std::nullopt;
}

std::string_view endpoint_name(endpoint e) {
    switch (e) {
    case endpoint::chat: return "chat";
    case endpoint::completions: return "completions";
    case endpoint::embeddings: return "embeddings";
    }
    return "chat";
}

std::string_view endpoint_path(endpoint e) {
    switch (e) {
    case endpoint::chat: return "/chat/completions";
    case endpoint::completions: return "/completions";
    case endpoint::embeddings: return "/embeddings";
    }
    return "/chat/completions";
}

std::string build_body(endpoint ep, std::string_view model, const nlohmann::json& input, bool stream,
                       bool include_usage, std::optional<std::int64_t> max_tokens,
                       const nlohmann::json* extra_a, const nlohmann::json* extra_b) {
    nlohmann::json body = nlohmann::json::object();
    body["model"] = model;
    switch (ep) {
    case endpoint::chat: body["messages"] = input; break;
    case endpoint::completions: body["prompt"] = input; break;
    case endpoint::embeddings: body["input"] = input; break;
    }
    if (ep != endpoint::embeddings) {
        if (stream) {
            body["stream"] = true;
            if (include_usage) body["stream_options"] = {{"include_usage", true}};
        }
        if (max_tokens) body["max_tokens"] = *max_tokens;
    }
    if (extra_a && extra_a->is_object()) body.merge_patch(*extra_a);
    if (extra_b && extra_b->is_object()) body.merge_patch(*extra_b);
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

workload::workload(workload_config cfg) : cfg_(std::move(cfg)) {
    if (cfg_.models.empty()) cfg_.models.push_back({"sim", 1});
    double sum = 0;
    for (const auto& m : cfg_.models) cumulative_.push_back(sum += m.weight);
    if (!cfg_.extra.empty()) {
        auto j = nlohmann::json::parse(cfg_.extra, nullptr, false);
        if (!j.is_discarded() && j.is_object()) extra_ = std::make_unique<const nlohmann::json>(std::move(j));
    }
    const unsigned pool = std::max(1u, cfg_.repeat_pool);
    pool_.reserve(pool);
    for (unsigned k = 0; k < pool; ++k) {
        rng r(cfg_.seed, pool_stream + k);
        std::string p = "Pooled prompt " + std::to_string(k) + ".";
        append_words(p, r, static_cast<unsigned>(r.between(cfg_.prompt_words_min, cfg_.prompt_words_max)));
        pool_.push_back(std::move(p));
    }
}

workload::~workload() = default;
workload::workload(workload&&) noexcept = default;

workload::choice workload::choose(std::uint64_t index) const {
    rng r(cfg_.seed, index);
    choice c;
    const double u = r.uniform() * cumulative_.back();
    c.model = static_cast<std::size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin());
    c.model = std::min(c.model, cumulative_.size() - 1);
    c.repeated = r.uniform() < cfg_.repeat_share;
    c.pool_index = static_cast<std::size_t>(r.next() % pool_.size());
    c.stream = cfg_.ep != endpoint::embeddings && r.uniform() < cfg_.stream_share;
    c.words = static_cast<unsigned>(r.between(cfg_.prompt_words_min, cfg_.prompt_words_max));
    return c;
}

std::string workload::prompt(std::uint64_t index, const choice& c, unsigned part) const {
    if (c.repeated) return pool_[(c.pool_index + part) % pool_.size()];
    // The seed and index in the first words make unique prompts unique across runs with
    // different seeds, so a response cache cannot serve them.
    rng r(cfg_.seed ^ 0x756e697175650000ULL, index * 1024 + part);
    std::string p = "Request " + std::to_string(cfg_.seed) + "-" + std::to_string(index) + "-" + std::to_string(part) + ".";
    append_words(p, r, c.words);
    return p;
}

request_spec workload::make(std::uint64_t index) const {
    const choice c = choose(index);
    request_spec spec;
    spec.ep = cfg_.ep;
    spec.stream = c.stream;
    nlohmann::json input;
    switch (cfg_.ep) {
    case endpoint::chat:
        input = nlohmann::json::array({{{"role", "user"}, {"content", prompt(index, c, 0)}}});
        break;
    case endpoint::completions: input = prompt(index, c, 0); break;
    case endpoint::embeddings:
        if (cfg_.embed_inputs <= 1) {
            input = prompt(index, c, 0);
        } else {
            input = nlohmann::json::array();
            for (unsigned i = 0; i < cfg_.embed_inputs; ++i) input.push_back(prompt(index, c, i));
        }
        break;
    }
    std::optional<std::int64_t> max_tokens;
    if (cfg_.max_tokens) max_tokens = *cfg_.max_tokens;
    spec.body = build_body(cfg_.ep, cfg_.models[c.model].name, input, c.stream, cfg_.include_usage, max_tokens,
                           extra_.get(), nullptr);
    return spec;
}

poisson_arrivals::poisson_arrivals(double rate, std::uint64_t seed) : mean_s_(1.0 / rate), rng_(seed, 0x6172726976616cULL) {}

double poisson_arrivals::next_gap_s() { return rng_.exponential(mean_s_); }

}  // namespace swapgate::bench
