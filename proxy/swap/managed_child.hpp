// A model server process swapgate starts and stops: spawn, forward its output
// to swapgate's stderr (each line prefixed with the model name, the last lines
// kept for error messages), poll its health URL until it serves, notice at
// once when it exits, stop it with SIGTERM then SIGKILL. Used by the process
// and vllm-sleep drivers. All members run on the owner's strand.
#pragma once
#include "config/duration.hpp"
#include "proxy/swap/child_process.hpp"
#include "proxy/swap/driver.hpp"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace swapgate::proxy {

class managed_child {
public:
    managed_child(net::any_io_executor strand, std::string name);
    ~managed_child();

    // Starts `command` and waits until GET `health_path` on `pool` answers 2xx,
    // within `load_timeout`. On failure the process is gone when this returns.
    net::awaitable<load_outcome> start(std::string command, std::map<std::string, std::string> env,
                                       std::shared_ptr<backend_pool> pool, std::string health_path,
                                       config::duration load_timeout);
    // SIGTERM to the process group, SIGKILL after `grace`; returns once it was reaped.
    net::awaitable<void> stop(config::duration grace);
    // SIGKILL and reap now (shutdown; blocking, bounded).
    void kill_now();

    bool running() const { return child_ && !exited_; }
    long long rss_mb() const { return running() ? child_->rss_mb() : 0; }
    pid_t pid() const { return running() ? child_->pid() : -1; }
    // The last lines the server printed (for error messages).
    std::string tail() const;
    // Called when the process exits while nobody asked it to.
    std::function<void(std::string why)> on_unexpected_exit;

private:
    net::any_io_executor ex_;
    std::string name_;
    std::unique_ptr<child_process> child_;
    net::steady_timer exit_wait_;
    int gen_ = 0;
    bool exited_ = false;
    bool stopping_ = false;
    bool starting_ = false;
    int status_ = 0;
    std::deque<std::string> tail_;

    net::awaitable<void> watch_exit(int gen, int fd);
    net::awaitable<void> pump_output(int gen, int fd);
    void note_line(std::string line);
    // Waits until the child exited or `until`; true when it exited.
    net::awaitable<bool> wait_exit_until(std::chrono::steady_clock::time_point until);
};

// Replaces ${PORT}, ${MODEL} and ${NAME} in a command.
std::string substitute_command(std::string cmd, int port, const std::string& upstream_model, const std::string& name);

}  // namespace swapgate::proxy
