// The typed swapgate configuration and its loader. A `config` is an immutable
// snapshot: loading never touches sockets; the only I/O is reading the file.
#pragma once
#include "config/duration.hpp"
#include "config/routing_config.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace swapgate::config {

// Per-backend deadlines. `first_byte` bounds the wait for response headers,
// `idle` the gap between two pieces of a streamed body, `total` the whole exchange.
struct timeout_settings {
    duration connect{std::chrono::seconds(5)};
    duration first_byte{std::chrono::seconds(300)};
    duration idle{std::chrono::seconds(120)};
    duration total{std::chrono::seconds(1800)};
};

// An OpenAI-compatible server swapgate forwards to.
struct backend {
    std::string name;
    std::string url;      // base URL including the API prefix, e.g. http://127.0.0.1:8080/v1
    std::string api_key;  // sent as "Authorization: Bearer ..."; never logged
    std::string ca_file;  // PEM bundle for HTTPS; empty = the system store
    bool tls_verify = true;
    // Synthesized for a `process` model: the URL's port is only known once the
    // server started, so no pool is built at startup.
    bool managed_process = false;
    timeout_settings timeouts;
    int max_idle_connections = 64;
    duration keepalive_idle{std::chrono::seconds(30)};  // pooled connections older than this are dropped
    std::uint64_t max_response_bytes = 64ull << 20;      // non-streamed response bodies
    std::map<std::string, std::string> headers;          // extra request headers
};

// How swapgate brings a model's server up and down (README: "Swapping models").
// `none`: swapgate only forwards; the model is always assumed available.
enum class driver_kind { none, process, ollama, vllm_sleep, static_server };
const char* driver_name(driver_kind d);

// Per-model residency settings, used when `driver` is not none.
struct serving_settings {
    driver_kind driver = driver_kind::none;
    // process / vllm-sleep: a shell command; ${PORT}, ${MODEL} and ${NAME} are
    // replaced when it starts (the port is a free loopback port for `process`,
    // the backend URL's port for vllm-sleep).
    std::string command;
    std::map<std::string, std::string> env;  // extra environment for the command
    std::string health_path = "/health";     // polled until 200 after a start
    duration load_timeout{std::chrono::seconds(300)};
    duration stop_timeout{std::chrono::seconds(10)};  // SIGTERM, then SIGKILL
    // ollama, and vllm-sleep without a command: while loaded, the server is
    // checked this often (Ollama's /api/ps must list the model; vLLM's
    // health_path must answer 200); two failed checks in a row count as a
    // crash. 0 = never.
    duration watch_interval{std::chrono::seconds(5)};
    std::string device;                // default: the first device
    long long memory_mb = 0;           // 0: estimated from `gguf` (see gguf_estimate)
    std::string gguf;                  // model file for the estimate
    long long context = 4096;          // tokens per slot, for the KV-cache estimate
    bool pinned = false;
    bool preload = false;
    int slots = 4;                     // requests served in parallel
    duration ttl{std::chrono::seconds(300)};  // idle unload; 0 = never
    int max_queue = 64;
    duration queue_timeout{std::chrono::seconds(120)};
    std::optional<duration> min_residency;
    duration initial_load_cost{std::chrono::seconds(10)};  // prior until a load is measured
    int sleep_level = 1;               // vllm-sleep: level passed to /sleep
    timeout_settings timeouts;         // process: the exchange timeouts of its server
};

// Per-model response cache settings (README: "Response cache").
struct model_cache_settings {
    std::string mode = "deterministic";  // deterministic | always | off
    duration ttl{std::chrono::hours(1)};
    std::uint64_t max_entry_bytes = 1ull << 20;
    struct semantic_t {
        bool enabled = false;
        std::string embedding_model;  // a configured model name or alias serving /v1/embeddings
        double threshold = 0.95;
        long long min_chars = 12;
        long long max_chars = 2000;
        long long max_turns = 4;
    } semantic;
};

// A model clients can name.
struct model {
    std::string name;
    std::vector<std::string> aliases;
    std::string backend;         // key into config::backends
    std::string upstream_model;  // what `model` is rewritten to; defaults to `name`
    std::string tier;            // free-form label (fast, default, complex, ...)
    serving_settings serving;
    model_cache_settings cache;
    bool managed() const { return serving.driver != driver_kind::none; }
};

// A memory pool models are loaded into: a GPU's VRAM or "cpu" RAM.
struct device {
    std::string name;
    long long budget_mb = 0;
    int max_loaded = 2;
};

// The response cache's store and shared settings.
struct cache_settings {
    std::string redis_url;  // empty: the in-process store
    std::uint64_t memory_bytes = 256ull << 20;  // the in-process store's bound
    duration redis_timeout{50};                 // per command; slower = a miss
    duration redis_connect_timeout{200};
    int redis_pool = 2;
    std::string key_prefix = "swapgate:";
    std::map<std::string, std::string> tenants;  // API key -> cache namespace
    duration embed_timeout{50};                  // the semantic tier's embedding call
    long long stream_maxlen = 100000;            // semantic change log (Redis Stream) cap
    std::uint64_t semantic_memory_bytes = 512ull << 20;
    bool test_hooks = false;  // /admin/cache/keys and /admin/cache/semantic-inject (tests only)
};

struct scheduler_settings {
    std::string policy = "value";  // value | fifo | lru
    duration window{100};
    std::optional<duration> max_wait;
    duration drain_timeout{std::chrono::seconds(60)};
    int max_loaded = 2;  // over all devices
};

struct limit_settings {
    std::uint64_t max_header_bytes = 16 * 1024;
    std::uint64_t max_body_bytes = 32ull << 20;
    duration request_read_timeout{std::chrono::seconds(30)};  // whole request head + body
    duration idle_timeout{std::chrono::seconds(75)};          // keep-alive wait for the next request
    duration write_timeout{std::chrono::seconds(60)};         // one write to a client (slow readers)
    duration shutdown_grace{std::chrono::seconds(30)};
    int max_connections = 4096;
};

struct auth_settings {
    std::vector<std::string> api_keys;    // empty = no inbound auth
    std::vector<std::string> admin_keys;  // for /admin/*; with api_keys set and no admin key, /admin/* is refused
};

struct log_settings {
    bool requests = true;  // one JSON line per request on stderr
};

struct config {
    std::string listen_host = "127.0.0.1";
    std::uint16_t listen_port = 8000;
    int threads = 0;  // 0 = one per core
    limit_settings limits;
    auth_settings auth;
    log_settings log;
    std::map<std::string, backend> backends;
    std::vector<model> models;
    std::vector<device> devices;
    scheduler_settings scheduler;
    cache_settings cache;
    routing_settings routing;  // tiers, patterns, auto rules, per-model routing (config/routing_config.hpp)
    std::vector<std::string> notes;  // informational: skipped backends and the like
};

// Looks an environment variable up; nullopt when unset. Injected so loading is pure.
using env_lookup = std::function<std::optional<std::string>(const std::string&)>;
env_lookup process_env();

struct load_result {
    std::optional<config> cfg;
    // Each error names the key path and the reason, e.g.
    // "models[1].backend: unknown backend 'lcoal' (known: local, hosted)".
    std::vector<std::string> errors;
};

load_result load_string(const std::string& yaml_text, const env_lookup& env);
load_result load_file(const std::string& path, const env_lookup& env);

// Parses "host:port", "[v6]:port" or ":port".
bool parse_listen(const std::string& text, std::string& host, std::uint16_t& port);

}  // namespace swapgate::config
