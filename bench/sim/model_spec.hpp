// Configuration of swapgate-sim: per-model behaviour (MODEL SPEC strings and the
// YAML file) and the process options. Pure parsing, no I/O beyond reading the file.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace swapgate::sim {

// How one simulated model behaves. Times in milliseconds, memory in MiB.
struct model_spec {
    std::string name = "sim";
    int64_t load_ms = 0;        // time to load (or reload) the weights
    int64_t ttft_ms = 0;        // time from slot grant to the first token
    double tps = 0;             // tokens per second; 0 = no delay between tokens
    int slots = 4;              // parallel requests; the rest wait FIFO
    double embed_call_ms = 0;  // embeddings: fixed cost per call ... (fractions allowed: 0.2)
    double embed_item_ms = 0;  // ... plus this per input item
    int64_t memory_mb = 1000;   // simulated weight size
    int dims = 256;             // embedding dimension
    bool loaded = true;         // true: loads at start, llama-server style; false: on demand, Ollama style
    int reply_tokens = 0;       // default reply length; 0 = hash-derived 8..31
    int64_t sleep_ms = 50;      // vLLM /sleep latency
    int64_t wake_ms = 50;       // vLLM /wake_up latency
};

// Everything the command line and the config file decide.
struct sim_options {
    std::string host = "127.0.0.1";
    uint16_t port = 8090;
    std::vector<model_spec> models;  // never empty after parse_args
    int64_t memory_mb = 0;           // capacity; 0 = unlimited
    int threads = 1;
    std::string tls_cert, tls_key;   // both set = HTTPS
    uint64_t fail_nth = 0;           // every Nth completion request fails; 0 = off
    int fail_status = 500;
    bool quiet = false;
};

// A parse outcome: `error` is empty on success and names the offending key otherwise.
template <class T>
struct parsed {
    T value{};
    std::string error;
    explicit operator bool() const { return error.empty(); }
};

// Parses "name[,key=value...]" (keys as in model_spec).
parsed<model_spec> parse_model_spec(std::string_view spec);

// Sets one model_spec key from its text form; returns an error message or "".
std::string set_model_key(model_spec& m, std::string_view key, std::string_view value);

// Parses "HOST:PORT" (IPv6 as "[::1]:PORT").
bool parse_listen(std::string_view text, std::string& host, uint16_t& port);

// Reads the YAML config text: `listen`, `memory_mb`, `models: [{name: a, load_ms: 100}]`.
// Fields already fixed on the command line (flags in `cli_set`) are not overwritten.
struct cli_flags {
    bool listen = false;
    bool memory = false;
};
std::string apply_yaml_config(std::string_view yaml_text, sim_options& opts, const cli_flags& cli_set);

// Parses argv (argv[0] excluded). Reads --config from disk. Fills defaults.
parsed<sim_options> parse_args(const std::vector<std::string>& args);

// Usage text for --help and errors.
std::string_view usage();

}  // namespace swapgate::sim
