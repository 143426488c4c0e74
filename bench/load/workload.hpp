// Synthetic workload from command-line flags: which model, which prompt, stream or not.
// Request i is a pure function of (seed, i), so the same flags produce the same requests
// whatever the thread count or timing. No Asio; safe to call from several threads.
#pragma once
#include "bench/load/rng.hpp"

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace swapgate::bench {

enum class endpoint { chat, completions, embeddings };

std::optional<endpoint> parse_endpoint(std::string_view s);
std::string_view endpoint_name(endpoint e);
// Path below the base URL: "/chat/completions", "/completions", "/embeddings".
std::string_view endpoint_path(endpoint e);

// One request ready to send: where, body, and whether a stream was asked for.
struct request_spec {
    endpoint ep = endpoint::chat;
    bool stream = false;
    std::string body;
};

struct model_weight {
    std::string name;
    double weight = 1;
};

struct workload_config {
    endpoint ep = endpoint::chat;
    std::vector<model_weight> models{{"sim", 1}};
    unsigned prompt_words_min = 32, prompt_words_max = 32;
    std::optional<unsigned> max_tokens;
    double repeat_share = 0;
    unsigned repeat_pool = 16;
    double stream_share = 0;
    bool include_usage = false;
    unsigned embed_inputs = 1;
    std::string extra;        // JSON object text merged (RFC 7386 merge patch) into every body; may be empty
    std::uint64_t seed = 1;
};

class workload {
public:
    // The draws behind request i, exposed so tests can check proportions.
    struct choice {
        std::size_t model = 0;
        bool repeated = false;
        std::size_t pool_index = 0;  // valid when repeated
        bool stream = false;
        unsigned words = 0;
    };

    explicit workload(workload_config cfg);
    ~workload();
    workload(workload&&) noexcept;

    choice choose(std::uint64_t index) const;
    request_spec make(std::uint64_t index) const;
    const workload_config& config() const { return cfg_; }

private:
    std::string prompt(std::uint64_t index, const choice& c, unsigned part) const;

    workload_config cfg_;
    std::vector<double> cumulative_;      // cumulative model weights
    std::vector<std::string> pool_;       // prompts reused by repeat-share requests
    std::unique_ptr<const nlohmann::json> extra_;
};

// Builds the JSON body shared by synthetic and trace requests: model, the endpoint's input
// (`input` is messages / prompt / input), stream flags, max_tokens, then `extra` patches
// (each may be null) applied in order.
std::string build_body(endpoint ep, std::string_view model, const nlohmann::json& input, bool stream,
                       bool include_usage, std::optional<std::int64_t> max_tokens,
                       const nlohmann::json* extra_a, const nlohmann::json* extra_b);

// Poisson arrivals at `rate` per second: exponential gaps with mean 1/rate.
class poisson_arrivals {
public:
    poisson_arrivals(double rate, std::uint64_t seed);
    double next_gap_s();

private:
    double mean_s_;
    rng rng_;
};

}  // namespace swapgate::bench
