// The memory a llama.cpp-style server needs for a GGUF model, estimated before
// the first load from the file itself: weights (the file size), the KV cache
// for the configured context, and a compute-buffer allowance. The figure a
// load really used (when a driver can observe it) replaces the estimate later.
#pragma once
#include <optional>
#include <string>

namespace swapgate::config {

// What the GGUF header says about the model's shape (0 = not found).
struct gguf_shape {
    std::string architecture;
    long long block_count = 0;       // layers
    long long embedding_length = 0;  // n_embd
    long long head_count = 0;
    long long head_count_kv = 0;     // grouped-query attention; = head_count when absent
    long long context_length = 0;    // the trained context
};

// Reads the metadata of a GGUF file (versions 2 and 3). nullopt with `why` set
// when the file is missing or not GGUF.
std::optional<gguf_shape> read_gguf_shape(const std::string& path, std::string& why);

// Conservative estimate in MB:
//   weights  = file size
//   kv       = 2 (K and V) x layers x context x (n_embd / heads x kv_heads) x 2 bytes (f16)
//   overhead = max(256 MB, 5% of weights)   (compute buffers, CUDA context)
// `context` is the total context the server is started with (llama-server -c).
// When the header lacks the shape, kv is taken as 25% of the weights.
long long estimate_memory_mb(long long file_bytes, const std::optional<gguf_shape>& shape, long long context);

}  // namespace swapgate::config
