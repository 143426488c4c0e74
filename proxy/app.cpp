#include "proxy/app.hpp"

#include "proxy/coalesce.hpp"
#include "proxy/server.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <thread>

namespace swapgate::proxy {

namespace asio = net::asio;

namespace {

std::optional<config::config> load_or_report(const std::string& path) {
    auto r = config::load_file(path, config::process_env());
    if (!r.cfg) {
        std::cerr << "swapgate: invalid configuration in " << path << ":\n";
        for (const auto& e : r.errors) std::cerr << "  " << e << "\n";
        return std::nullopt;
    }
    return std::move(*r.cfg);
}

// Waits for SIGINT/SIGTERM, then drains: no new connections, idle ones closed,
// running requests and streams allowed to finish for `grace`, then cancelled.
net::awaitable<void> shutdown_on_signal(server& srv, proxy_state& st, asio::io_context& ioc) {
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    auto [ec, sig] = co_await signals.async_wait(net::use_tuple);
    if (ec) co_return;
    auto grace = st.cfg->limits.shutdown_grace;
    log_event("info", "shutdown", "signal " + std::to_string(sig) + ": draining " +
                                      std::to_string(srv.session_count()) + " connection(s) for up to " +
                                      std::to_string(grace.count()) + " ms");
    srv.begin_shutdown();
    // A second signal skips the grace period. (The flag outlives this frame: the
    // handler may run on another thread, even after the coroutine returned.)
    auto hurry = std::make_shared<std::atomic<bool>>(false);
    signals.async_wait([hurry](const net::error_code& e, int) {
        if (!e) *hurry = true;
    });
    auto deadline = std::chrono::steady_clock::now() + grace;
    net::steady_timer t(ioc);
    while (srv.session_count() > 0 && std::chrono::steady_clock::now() < deadline && !*hurry) {
        t.expires_after(std::chrono::milliseconds(20));
        co_await t.async_wait();
    }
    if (srv.session_count() > 0) {
        log_event("warn", "shutdown", std::to_string(srv.session_count()) + " connection(s) still open: closing them");
        srv.force_close();
        auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (srv.session_count() > 0 && std::chrono::steady_clock::now() < hard) {
            t.expires_after(std::chrono::milliseconds(20));
            co_await t.async_wait();
        }
    }
    signals.cancel();
    ioc.stop();
}

}  // namespace

int check_config(const std::string& path) {
    auto cfg = load_or_report(path);
    if (!cfg) return 1;
    routing::residency_inputs inputs;
    std::vector<std::string> errors;
    if (!routing::build_scheduler(*cfg, inputs, errors)) {
        std::cerr << "swapgate: the models in " << path << " cannot be scheduled:\n";
        for (const auto& e : errors) std::cerr << "  " << e << "\n";
        return 1;
    }
    std::cout << path << ": OK, " << cfg->models.size() << " model(s) on " << cfg->backends.size()
              << " backend(s), listening on " << cfg->listen_host << ":" << cfg->listen_port << "\n";
    for (const auto& n : cfg->notes) std::cout << "  note: " << n << "\n";
    return 0;
}

int run(const run_options& opts) {
    std::signal(SIGPIPE, SIG_IGN);
    auto loaded = load_or_report(opts.config_path);
    if (!loaded) return 2;
    config::config cfg = std::move(*loaded);
    if (opts.listen && !config::parse_listen(*opts.listen, cfg.listen_host, cfg.listen_port)) {
        std::cerr << "swapgate: --listen: expected HOST:PORT, got '" << *opts.listen << "'\n";
        return 2;
    }
    if (opts.threads) cfg.threads = *opts.threads;
    int threads = cfg.threads > 0 ? cfg.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

    auto shared = std::make_shared<const config::config>(std::move(cfg));
    // The io_context is declared first so it is destroyed last: pooled upstream
    // sockets in `st` must be closed while their reactor still exists.
    asio::io_context ioc(threads);
    proxy_state st(shared);
    st.started_at = static_cast<long long>(std::time(nullptr));
    try {
        for (const auto& [name, b] : shared->backends)
            if (!b.managed_process)
                st.pools.emplace(name, std::make_shared<backend_pool>(ioc.get_executor(), b, st.stats));
        st.swap = std::make_unique<swap_service>(ioc, shared, st.stats, st.pools);
        st.cache = std::make_unique<response_cache>(ioc, shared, st.stats);
        st.batching = std::make_unique<embed_batching>(ioc, st);
        if (shared->routing.coalesce) st.coalesce = std::make_shared<coalescer>(ioc);
        const auto& fb = shared->routing.fallback;
        st.breakers = std::make_unique<breaker_board>(
            routing::breaker_settings{fb.breaker_failures, fb.breaker_cooldown, std::max(fb.breaker_cooldown, std::chrono::milliseconds(120000))},
            st.stats);
        bool semantic = false;
        for (const auto& m : shared->models) semantic |= m.cache.semantic.enabled;
        if (semantic) st.semantic = std::make_unique<semantic_tier>(ioc, st);
    } catch (const std::exception& e) {
        std::cerr << "swapgate: " << e.what() << "\n";
        return 2;
    }

    server srv(ioc, st);
    std::uint16_t port = 0;
    try {
        port = srv.listen(shared->listen_host, shared->listen_port);
    } catch (const std::exception& e) {
        std::cerr << "swapgate: cannot listen on " << shared->listen_host << ":" << shared->listen_port << ": "
                  << e.what() << "\n";
        return 1;
    }
    for (const auto& n : shared->notes) log_event("info", "config", n);
    log_event("info", "cache", "response cache store: " + st.cache->describe());
    std::string models;
    for (const auto& m : shared->models) models += (models.empty() ? "" : ", ") + m.name + " -> " + m.backend;
    log_event("info", "start",
              "swapgate 0.1.0 on " + shared->listen_host + ":" + std::to_string(port) + " with " +
                  std::to_string(threads) + " thread(s); models: " + (models.empty() ? "none" : models));
    nlohmann::json ready{{"event", "listening"}, {"address", shared->listen_host}, {"port", port}};
    std::cout << ready.dump() << std::endl;

    srv.start();
    st.swap->start();
    if (st.semantic) st.semantic->start();
    asio::co_spawn(ioc, shutdown_on_signal(srv, st, ioc), asio::detached);
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
    // Model servers swapgate started go with it.
    st.swap->terminate();
    if (st.semantic) st.semantic->shutdown();
    st.cache->shutdown();
    st.pools.clear();
    log_event("info", "stopped", "bye");
    return 0;
}

}  // namespace swapgate::proxy
