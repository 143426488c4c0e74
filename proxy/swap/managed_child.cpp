#include "proxy/swap/managed_child.hpp"

#include "proxy/swap/http_probe.hpp"

#include <csignal>
#include <unistd.h>

namespace swapgate::proxy {

namespace asio = net::asio;
using std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string substitute_command(std::string cmd, int port, const std::string& upstream_model, const std::string& name) {
    auto replace = [&](const std::string& var, const std::string& value) {
        for (size_t at = cmd.find(var); at != std::string::npos; at = cmd.find(var, at + value.size()))
            cmd.replace(at, var.size(), value);
    };
    replace("${PORT}", std::to_string(port));
    replace("${MODEL}", upstream_model);
    replace("${NAME}", name);
    return cmd;
}

managed_child::managed_child(net::any_io_executor strand, std::string name)
    : ex_(strand), name_(std::move(name)), exit_wait_(strand) {}

managed_child::~managed_child() { kill_now(); }

void managed_child::kill_now() {
    if (!child_) return;
    stopping_ = true;
    child_.reset();  // SIGKILLs the group and reaps
    exited_ = true;
    ++gen_;
}

std::string managed_child::tail() const {
    std::string s;
    for (const auto& l : tail_) s += (s.empty() ? "" : " | ") + l;
    return s;
}

void managed_child::note_line(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string out = "[" + name_ + "] " + line + "\n";
    (void)!::write(2, out.data(), out.size());
    if (line.size() > 300) line = line.substr(0, 300) + "...";
    tail_.push_back(std::move(line));
    while (tail_.size() > 5) tail_.pop_front();
}

net::awaitable<void> managed_child::pump_output(int gen, int fd) {
    asio::posix::stream_descriptor in(ex_, fd);
    std::string pending;
    char buf[4096];
    for (;;) {
        auto [ec, n] = co_await in.async_read_some(asio::buffer(buf), net::use_tuple);
        if (n > 0) {
            pending.append(buf, n);
            size_t nl;
            while ((nl = pending.find('\n')) != std::string::npos) {
                note_line(pending.substr(0, nl));
                pending.erase(0, nl + 1);
            }
            if (pending.size() > 16384) {
                note_line(pending);
                pending.clear();
            }
        }
        if (ec) break;
    }
    if (!pending.empty()) note_line(pending);
    (void)gen;
}

net::awaitable<void> managed_child::watch_exit(int gen, int fd) {
    if (fd >= 0) {
        asio::posix::stream_descriptor d(ex_, fd);
        co_await d.async_wait(asio::posix::stream_descriptor::wait_read, net::use_tuple);
    }
    net::steady_timer poll(ex_);
    for (;;) {
        if (gen != gen_ || !child_) co_return;  // killed and replaced meanwhile
        if (auto st = child_->try_reap()) {
            status_ = *st;
            break;
        }
        poll.expires_after(fd >= 0 ? 5ms : 100ms);
        co_await poll.async_wait();
    }
    exited_ = true;
    exit_wait_.cancel();
    if (!stopping_ && !starting_ && on_unexpected_exit) {
        std::string why = describe_wait_status(status_);
        if (!tail_.empty()) why += "; last output: " + tail();
        on_unexpected_exit(why);
    }
}

net::awaitable<bool> managed_child::wait_exit_until(steady_clock::time_point until) {
    while (!exited_ && steady_clock::now() < until) {
        exit_wait_.expires_at(until);
        co_await exit_wait_.async_wait();
    }
    co_return exited_;
}

net::awaitable<load_outcome> managed_child::start(std::string command, std::map<std::string, std::string> env,
                                                  std::shared_ptr<backend_pool> pool, std::string health_path,
                                                  config::duration load_timeout) {
    load_outcome out;
    if (running()) kill_now();
    tail_.clear();
    std::string why;
    auto c = child_process::spawn(command, env, why);
    if (!c) {
        out.why = "cannot start '" + command + "': " + why;
        co_return out;
    }
    child_ = std::move(c);
    exited_ = false;
    stopping_ = false;
    starting_ = true;
    int gen = ++gen_;
    int pidfd = child_->exit_fd() >= 0 ? ::dup(child_->exit_fd()) : -1;
    asio::co_spawn(ex_, watch_exit(gen, pidfd), asio::detached);
    int outfd = child_->take_output_fd();
    if (outfd >= 0) asio::co_spawn(ex_, pump_output(gen, outfd), asio::detached);

    auto deadline = steady_clock::now() + load_timeout;
    auto pause = 50ms;
    probe_result last;
    net::steady_timer t(ex_);
    for (;;) {
        if (gen != gen_) {
            out.why = "stopped while loading";
            co_return out;
        }
        if (exited_) {
            starting_ = false;
            out.why = "the server " + describe_wait_status(status_) + " while loading";
            if (!tail_.empty()) out.why += "; last output: " + tail();
            co_return out;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
        if (left <= 0ms) break;
        last = co_await http_probe(*pool, "GET", health_path, "", std::min<std::chrono::milliseconds>(left, 2000ms));
        if (gen != gen_) continue;
        if (last.ok() && !exited_) {
            starting_ = false;
            out.ok = true;
            co_return out;
        }
        t.expires_after(pause);
        co_await t.async_wait();
        pause = std::min<std::chrono::milliseconds>(pause * 2, 200ms);
    }
    starting_ = false;
    out.why = "not healthy within " + std::to_string(load_timeout.count() / 1000.0).substr(0, 6) + " s (last " +
              health_path + ": " + last.describe() + ")";
    if (!tail_.empty()) out.why += "; last output: " + tail();
    co_await stop(std::chrono::seconds(2));
    co_return out;
}

net::awaitable<void> managed_child::stop(config::duration grace) {
    if (!child_) co_return;
    stopping_ = true;
    if (!exited_) {
        child_->signal_group(SIGTERM);
        bool gone = co_await wait_exit_until(steady_clock::now() + grace);
        if (!gone) {
            child_->signal_group(SIGKILL);
            co_await wait_exit_until(steady_clock::now() + 5s);
        }
    }
    if (!exited_) kill_now();  // blocking reap as the last resort
    child_.reset();
}

}  // namespace swapgate::proxy
