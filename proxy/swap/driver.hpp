// Model drivers: how one model's server is brought up (load, or wake from
// sleep) and down (unload, or sleep). The swap service (swap_service.hpp) owns
// one driver per managed model and alone decides when to call them; a driver
// only carries the action out and reports what happened.
//
// Every driver runs on its own strand. load() and unload() are never called
// concurrently for one model (the scheduler is single-flight per model).
#pragma once
#include "config/config.hpp"
#include "proxy/upstream.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace swapgate::proxy {

class metrics;

struct load_outcome {
    bool ok = false;
    std::string why;                       // failure: for logs and the clients' 503
    std::optional<long long> observed_mb;  // memory the load really took, when the driver can tell
};

class model_driver {
public:
    virtual ~model_driver() = default;
    // Brings the server up; returns when it serves or the load failed (the
    // driver owns the load timeout; a failed load leaves no memory held).
    virtual net::awaitable<load_outcome> load(bool wake) = 0;
    // Takes it down (sleep_level > 0: vLLM sleep); returns once its memory is free.
    virtual net::awaitable<void> unload(int sleep_level) = 0;
    // Once at startup, before any load: brings reality in line with "nothing
    // loaded" (an external vLLM server is put to sleep).
    virtual net::awaitable<void> init() { co_return; }
    // The pool requests are sent to while the model is loaded.
    virtual std::shared_ptr<backend_pool> pool() const = 0;
    // Shutdown: stops whatever the driver started, at once (blocking, bounded).
    virtual void terminate() {}

    net::any_io_executor executor() const { return ex_; }
    // Called on the driver's strand when a loaded server dies by itself.
    std::function<void(std::string why)> on_crash;

protected:
    explicit model_driver(net::any_io_executor ex) : ex_(std::move(ex)) {}
    net::any_io_executor ex_;
};

struct driver_context {
    net::asio::io_context& ioc;
    metrics& stats;
    // The configured backend of a non-process model (its pool already exists).
    std::shared_ptr<backend_pool> configured_pool;
};

// The driver for `m` (m.managed()). Throws std::runtime_error on a setup
// problem (startup only).
std::unique_ptr<model_driver> make_driver(const config::model& m, const config::backend& b, driver_context ctx);

}  // namespace swapgate::proxy
