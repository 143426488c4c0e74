#include "proxy/swap/gpu_memory.hpp"

#include "proxy/swap/child_process.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace swapgate::proxy {

namespace asio = net::asio;
using net::error_code;

bool nvidia_smi_available() {
    static const bool found = [] {
        const char* path = std::getenv("PATH");
        if (!path) return false;
        std::stringstream dirs(path);
        std::string dir;
        while (std::getline(dirs, dir, ':'))
            if (!dir.empty() && ::access((dir + "/nvidia-smi").c_str(), X_OK) == 0) return true;
        return false;
    }();
    return found;
}

namespace {

// `root` and every process below it, from /proc/*/stat (sorted).
std::vector<pid_t> process_tree(pid_t root) {
    std::multimap<pid_t, pid_t> children;  // parent -> child
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
            char* end = nullptr;
            long pid = std::strtol(e->d_name, &end, 10);
            if (!end || *end != '\0' || pid <= 0) continue;
            std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
            std::string stat;
            if (!std::getline(f, stat)) continue;
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            auto close = stat.rfind(')');
            if (close == std::string::npos) continue;
            std::istringstream rest(stat.substr(close + 1));
            std::string state;
            long ppid = 0;
            if (rest >> state >> ppid) children.emplace(static_cast<pid_t>(ppid), static_cast<pid_t>(pid));
        }
        ::closedir(d);
    }
    std::vector<pid_t> out{root}, pending{root};
    while (!pending.empty()) {
        pid_t p = pending.back();
        pending.pop_back();
        auto [a, b] = children.equal_range(p);
        for (auto it = a; it != b; ++it) {
            out.push_back(it->second);
            pending.push_back(it->second);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

std::optional<long long> sum_for_pids(std::string_view csv, const std::vector<pid_t>& pids) {
    long long sum = 0;
    bool found = false;
    size_t at = 0;
    while (at < csv.size()) {
        size_t nl = csv.find('\n', at);
        std::string line(csv.substr(at, nl == std::string_view::npos ? std::string_view::npos : nl - at));
        at = nl == std::string_view::npos ? csv.size() : nl + 1;
        auto comma = line.find(',');
        if (comma == std::string::npos) continue;
        char* end = nullptr;
        long pid = std::strtol(line.c_str(), &end, 10);
        if (end == line.c_str()) continue;
        const char* mem_at = line.c_str() + comma + 1;
        long long mb = std::strtoll(mem_at, &end, 10);
        if (end == mem_at || mb < 0) continue;  // "[N/A]" and the like
        if (!std::binary_search(pids.begin(), pids.end(), static_cast<pid_t>(pid))) continue;
        sum += mb;
        found = true;
    }
    if (!found) return std::nullopt;
    return sum;
}

net::awaitable<std::optional<long long>> gpu_memory_mb(pid_t root) {
    if (root <= 0 || !nvidia_smi_available()) co_return std::nullopt;
    std::string why;
    auto child = child_process::spawn("nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits",
                                      {}, why);
    if (!child) co_return std::nullopt;
    auto ex = co_await asio::this_coro::executor;
    auto in = std::make_shared<asio::posix::stream_descriptor>(ex, child->take_output_fd());
    net::steady_timer deadline(ex);
    deadline.expires_after(std::chrono::seconds(5));
    auto timed_out = std::make_shared<bool>(false);
    // A plain handler (it may run after this coroutine ended: it owns what it
    // touches): on expiry it closes the pipe, which ends the read below.
    deadline.async_wait([in, timed_out](const error_code& ec) {
        if (ec) return;
        *timed_out = true;
        error_code ignored;
        in->close(ignored);
    });
    std::string out;
    char buf[4096];
    for (;;) {
        auto [ec, n] = co_await in->async_read_some(asio::buffer(buf), net::use_tuple);
        out.append(buf, n);
        if (ec || out.size() > (1u << 20)) break;
    }
    deadline.cancel();
    child->try_reap();
    if (*timed_out) co_return std::nullopt;
    co_return sum_for_pids(out, process_tree(root));
}

}  // namespace swapgate::proxy
