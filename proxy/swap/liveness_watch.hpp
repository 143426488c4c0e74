// While a model is loaded on a server swapgate did not start (Ollama, an
// external vLLM), nothing tells swapgate when that server dies or drops the
// model: no child process to wait for. The watch polls it every
// `watch_interval` on the driver's strand: Ollama's /api/ps must list the
// model, vLLM's health path must answer 200. Two failed checks in a row are
// reported as a crash (the scheduler then counts the model as unloaded, fails
// what ran on it, and loads it again on the next request).
#pragma once
#include "proxy/upstream.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace swapgate::proxy {

// The model's size in MB as Ollama's /api/ps reports it (VRAM, or all of it on
// the cpu device); nullopt when it is not listed or Ollama does not answer.
net::awaitable<std::optional<long long>> ollama_resident_mb(std::shared_ptr<backend_pool> pool, std::string upstream_model,
                                                            bool cpu);

class liveness_watch {
public:
    enum class check { ollama_ps, health };
    struct target {
        check what = check::health;
        std::shared_ptr<backend_pool> pool;
        std::string upstream_model;  // ollama_ps
        bool cpu = false;            // ollama_ps: the model lives in RAM
        std::string health_path;     // health
        std::chrono::milliseconds interval{5000};  // 0: the watch never runs
    };

    // `crash` is called on `strand` with the reason.
    liveness_watch(net::any_io_executor strand, target t, std::function<void(std::string)> crash);
    ~liveness_watch();
    liveness_watch(const liveness_watch&) = delete;
    liveness_watch& operator=(const liveness_watch&) = delete;

    void loaded();    // a load succeeded: start watching (on the strand)
    void unloading(); // before an unload: stop watching (on the strand)

    struct state;  // shared with the polling coroutine

private:
    std::shared_ptr<state> st_;
};

}  // namespace swapgate::proxy
