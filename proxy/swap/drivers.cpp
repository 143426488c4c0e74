// The four drivers: process (a server per model, started and stopped),
// ollama (load/unload through Ollama's API), vllm-sleep (one vLLM server put
// to sleep and woken), static (always running; nothing to do).
#include "proxy/swap/driver.hpp"
#include "proxy/swap/gpu_memory.hpp"
#include "proxy/swap/http_probe.hpp"
#include "proxy/swap/liveness_watch.hpp"
#include "proxy/swap/managed_child.hpp"
#include "proxy/request_log.hpp"

#include <nlohmann/json.hpp>

namespace swapgate::proxy {

namespace asio = net::asio;
using namespace std::chrono_literals;

namespace {

class process_driver final : public model_driver {
public:
    process_driver(const config::model& m, const config::backend& b, driver_context ctx)
        : model_driver(asio::make_strand(ctx.ioc)), m_(m), template_(b), ioc_(ctx.ioc), stats_(ctx.stats),
          child_(ex_, m.name) {
        child_.on_unexpected_exit = [this](std::string why) {
            pool_.reset();
            if (on_crash) on_crash(std::move(why));
        };
    }

    net::awaitable<load_outcome> load(bool) override {
        int port = pick_free_port();
        if (port == 0) co_return load_outcome{false, "no free loopback port", {}};
        config::backend b = template_;
        b.url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
        auto pool = std::make_shared<backend_pool>(ioc_.get_executor(), b, stats_);
        auto env = m_.serving.env;
        env["PORT"] = std::to_string(port);
        env["SWAPGATE_MODEL"] = m_.name;
        auto cmd = substitute_command(m_.serving.command, port, m_.upstream_model, m_.name);
        log_event("info", "load", "model '" + m_.name + "': starting " + cmd);
        auto out = co_await child_.start(cmd, env, pool, m_.serving.health_path, m_.serving.load_timeout);
        if (!out.ok) co_return out;
        pool_ = pool;
        // On the cpu device the server's resident memory is a measurement; it
        // only ever raises the figure (mmap'd weights are paged in lazily).
        if (m_.serving.device == "cpu") {
            long long rss = child_.rss_mb();
            if (rss > m_.serving.memory_mb) out.observed_mb = rss;
        } else {
            // On a GPU, what nvidia-smi reports for the server's processes (when it is installed).
            auto gpu = co_await gpu_memory_mb(child_.pid());
            if (gpu) {
                out.observed_mb = *gpu;
                log_event("info", "load", "model '" + m_.name + "': nvidia-smi reports " + std::to_string(*gpu) +
                                              " MB on the GPU (configured " + std::to_string(m_.serving.memory_mb) + " MB)");
            }
        }
        co_return out;
    }

    net::awaitable<void> unload(int) override {
        pool_.reset();
        co_await child_.stop(m_.serving.stop_timeout);
    }

    std::shared_ptr<backend_pool> pool() const override { return pool_; }
    void terminate() override { child_.kill_now(); }

private:
    config::model m_;
    config::backend template_;
    asio::io_context& ioc_;
    metrics& stats_;
    managed_child child_;
    std::shared_ptr<backend_pool> pool_;
};

// Ollama decides residency itself, but only when asked: a load is a generate
// call with no prompt and keep_alive -1 (stay until told), an unload the same
// with keep_alive 0; /api/ps tells what is resident and its real size.
class ollama_driver final : public model_driver {
public:
    ollama_driver(const config::model& m, driver_context ctx)
        : model_driver(asio::make_strand(ctx.ioc)),
          m_(m),
          pool_(ctx.configured_pool),
          live_(ex_,
                {liveness_watch::check::ollama_ps, pool_, m.upstream_model, m.serving.device == "cpu", "",
                 std::chrono::duration_cast<std::chrono::milliseconds>(m.serving.watch_interval)},
                [this](std::string why) {
                    if (on_crash) on_crash(std::move(why));
                }) {}

    // Ollama may hold the model from before (a previous swapgate loaded it with
    // keep_alive -1): unload it, so that "unloaded" is true.
    net::awaitable<void> init() override {
        auto mb = co_await resident_mb();
        if (!mb) co_return;
        log_event("info", "init", "model '" + m_.name + "' was resident in Ollama before swapgate started: unloading it");
        co_await unload(0);
    }

    net::awaitable<load_outcome> load(bool) override {
        load_outcome out;
        nlohmann::json req{{"model", m_.upstream_model}, {"prompt", ""}, {"keep_alive", -1}, {"stream", false}};
        auto r = co_await http_probe(*pool_, "POST", "/api/generate", req.dump(), m_.serving.load_timeout);
        if (!r.ok()) {
            out.why = "Ollama did not load '" + m_.upstream_model + "': " + r.describe();
            co_return out;
        }
        out.ok = true;
        auto mb = co_await resident_mb();  // (GCC 12: no co_await inside a condition)
        if (mb) out.observed_mb = *mb;
        live_.loaded();
        co_return out;
    }

    net::awaitable<void> unload(int) override {
        live_.unloading();
        nlohmann::json req{{"model", m_.upstream_model}, {"keep_alive", 0}, {"stream", false}};
        auto r = co_await http_probe(*pool_, "POST", "/api/generate", req.dump(), m_.serving.stop_timeout);
        if (!r.ok()) log_event("warn", "unload", "model '" + m_.name + "': Ollama unload: " + r.describe());
        // The memory counts as free once /api/ps no longer lists the model.
        auto until = std::chrono::steady_clock::now() + m_.serving.stop_timeout;
        net::steady_timer t(ex_);
        while (std::chrono::steady_clock::now() < until) {
            auto mb = co_await resident_mb();
            if (!mb) co_return;
            t.expires_after(100ms);
            co_await t.async_wait();
        }
        log_event("warn", "unload", "model '" + m_.name + "': still listed by Ollama after " +
                                        std::to_string(m_.serving.stop_timeout.count()) + " ms; counting it as unloaded");
    }

    std::shared_ptr<backend_pool> pool() const override { return pool_; }

private:
    config::model m_;
    std::shared_ptr<backend_pool> pool_;

    liveness_watch live_;

    // The model's size in MB as /api/ps reports it (VRAM, or all of it on cpu);
    // nullopt when it is not resident or Ollama does not answer.
    net::awaitable<std::optional<long long>> resident_mb() {
        return ollama_resident_mb(pool_, m_.upstream_model, m_.serving.device == "cpu");
    }
};

// One vLLM server started with --enable-sleep-mode. Unload = POST /sleep
// (level 1: weights to host RAM, VRAM freed), load = POST /wake_up. With a
// `command`, swapgate starts the server itself on the first load (a cold
// load) and restarts it after a crash.
class vllm_sleep_driver final : public model_driver {
public:
    vllm_sleep_driver(const config::model& m, driver_context ctx)
        : model_driver(asio::make_strand(ctx.ioc)),
          m_(m),
          pool_(ctx.configured_pool),
          child_(ex_, m.name),
          // An external server (no command) is watched; one swapgate started is a child.
          live_(ex_,
                {liveness_watch::check::health, pool_, "", false, m.serving.health_path,
                 m.serving.command.empty() ? std::chrono::duration_cast<std::chrono::milliseconds>(m.serving.watch_interval)
                                           : std::chrono::milliseconds(0)},
                [this](std::string why) {
                    if (on_crash) on_crash(std::move(why));
                }) {
        child_.on_unexpected_exit = [this](std::string why) {
            if (on_crash) on_crash(std::move(why));
        };
    }

    net::awaitable<void> init() override {
        if (!m_.serving.command.empty()) co_return;  // not running until the first load
        // An external server starts awake; swapgate counts it as unloaded, so
        // put it to sleep to make that true. It may still be starting: a few tries.
        net::steady_timer t(ex_);
        probe_result r;
        for (int attempt = 0; attempt < 5; ++attempt) {
            r = co_await http_probe(*pool_, "POST", "/sleep?level=" + std::to_string(m_.serving.sleep_level), "", 30s);
            if (r.ok()) {
                log_event("info", "init", "model '" + m_.name + "': vLLM server put to sleep until needed");
                co_return;
            }
            t.expires_after(1s);
            co_await t.async_wait();
        }
        log_event("warn", "init", "model '" + m_.name + "': could not put the vLLM server to sleep (" + r.describe() +
                                      "); it counts as unloaded but may hold memory until its first use");
    }

    net::awaitable<load_outcome> load(bool wake) override {
        load_outcome out;
        if (!m_.serving.command.empty() && !child_.running()) {
            auto port = pool_->url().port;
            auto cmd = substitute_command(m_.serving.command, port, m_.upstream_model, m_.name);
            auto env = m_.serving.env;
            env["PORT"] = std::to_string(port);
            log_event("info", "load", "model '" + m_.name + "': starting " + cmd);
            auto started = co_await child_.start(cmd, env, pool_, m_.serving.health_path, m_.serving.load_timeout);
            co_return started;
        }
        auto r = co_await http_probe(*pool_, "POST", "/wake_up", "", m_.serving.load_timeout);
        if (!r.ok()) {
            out.why = std::string("vLLM ") + (wake ? "wake_up" : "load") + " failed: " + r.describe();
            co_return out;
        }
        out.ok = true;
        live_.loaded();
        co_return out;
    }

    net::awaitable<void> unload(int sleep_level) override {
        live_.unloading();
        int level = sleep_level > 0 ? sleep_level : m_.serving.sleep_level;
        auto r = co_await http_probe(*pool_, "POST", "/sleep?level=" + std::to_string(level), "", m_.serving.stop_timeout);
        if (r.ok()) co_return;
        log_event("warn", "unload", "model '" + m_.name + "': vLLM /sleep failed: " + r.describe() +
                                        (child_.running() ? "; stopping the server" : ""));
        if (child_.running()) co_await child_.stop(m_.serving.stop_timeout);
    }

    std::shared_ptr<backend_pool> pool() const override { return pool_; }
    void terminate() override { child_.kill_now(); }

private:
    config::model m_;
    std::shared_ptr<backend_pool> pool_;
    managed_child child_;
    liveness_watch live_;
};

class static_driver final : public model_driver {
public:
    explicit static_driver(driver_context ctx) : model_driver(asio::make_strand(ctx.ioc)), pool_(ctx.configured_pool) {}
    net::awaitable<load_outcome> load(bool) override { co_return load_outcome{true, "", {}}; }
    net::awaitable<void> unload(int) override { co_return; }
    std::shared_ptr<backend_pool> pool() const override { return pool_; }

private:
    std::shared_ptr<backend_pool> pool_;
};

}  // namespace

std::unique_ptr<model_driver> make_driver(const config::model& m, const config::backend& b, driver_context ctx) {
    switch (m.serving.driver) {
        case config::driver_kind::process: return std::make_unique<process_driver>(m, b, ctx);
        case config::driver_kind::ollama: return std::make_unique<ollama_driver>(m, ctx);
        case config::driver_kind::vllm_sleep: return std::make_unique<vllm_sleep_driver>(m, ctx);
        default: return std::make_unique<static_driver>(ctx);
    }
}

}  // namespace swapgate::proxy
