// Pieces of the swap scheduler integration tests (swap_test.cpp): swapgate with
// managed models whose servers are swapgate-sim processes it starts itself, the
// admin API polled with a deadline, and the model servers found through /proc
// by a marker unique to each test, so a test can tell which servers exist.
#pragma once
#include "fixture.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <regex>
#include <sstream>

namespace swapgate::test::swap {

// ---- model servers, seen from /proc ------------------------------------------

// A string no other process on the machine has in its command line.
inline std::string unique_marker() {
    static std::mt19937_64 rng{std::random_device{}()};
    static int n = 0;
    char buf[64];
    std::snprintf(buf, sizeof buf, "sgt%d-%d-%06llx", static_cast<int>(::getpid()), ++n,
                  static_cast<unsigned long long>(rng() & 0xffffff));
    return buf;
}

// Process state letter from /proc/PID/stat; 0 when the process is gone.
inline char proc_state(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) return 0;
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) return 0;
    return stat[close + 2];
}

// Running (not a zombie, not gone).
inline bool pid_alive(pid_t pid) {
    char s = proc_state(pid);
    return s != 0 && s != 'Z' && s != 'X';
}

struct proc_entry {
    pid_t pid = 0;
    std::string cmdline;  // NULs as spaces
};

// Live processes whose command line contains `marker`.
inline std::vector<proc_entry> procs_with(const std::string& marker) {
    std::vector<proc_entry> out;
    DIR* d = ::opendir("/proc");
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
        char* end = nullptr;
        long pid = std::strtol(e->d_name, &end, 10);
        if (pid <= 0 || *end) continue;
        std::ifstream in(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        std::string cmd = ss.str();
        for (auto& c : cmd)
            if (c == '\0') c = ' ';
        if (cmd.find(marker) == std::string::npos) continue;
        if (!pid_alive(static_cast<pid_t>(pid))) continue;
        out.push_back({static_cast<pid_t>(pid), cmd});
    }
    ::closedir(d);
    return out;
}

// The loopback port a model server was started on (from its --listen), 0 if none.
inline int port_of(const proc_entry& p) {
    static const std::regex re(R"(--listen 127\.0\.0\.1:(\d+))");
    std::smatch m;
    if (!std::regex_search(p.cmdline, m, re)) return 0;
    return std::stoi(m[1].str());
}

// A loopback port nothing listens on right now.
inline int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

// True when nothing accepts connections on the port.
inline bool port_refuses(int port) {
    try {
        http_client c(port, 2s);
        return false;
    } catch (const std::exception&) {
        return true;
    }
}

// SIGKILLs whatever still runs with the marker when the test ends, so a test
// that fails (or a swapgate that leaks its children) leaves nothing behind.
// Declare it before the swapgate it watches: it must be destroyed after it.
struct marker_guard {
    std::string marker = unique_marker();
    ~marker_guard() {
        for (const auto& p : procs_with(marker)) ::kill(p.pid, SIGKILL);
    }
    std::vector<proc_entry> procs() const { return procs_with(marker); }
    // The live process of model server `name` (its sim model is "<marker>-<name>").
    std::optional<proc_entry> server(const std::string& name) const {
        auto found = procs_with(marker + "-" + name + ",");
        if (found.empty()) return std::nullopt;
        return found.front();
    }
};

// ---- config -----------------------------------------------------------------

// A swapgate-sim command for a process model; the sim model is named
// "<marker>-<name>" so the server can be found in /proc. `spec` adds keys to the
// model spec (load_ms=300,...).
inline std::string sim_command(const std::string& marker, const std::string& name, const std::string& spec) {
    return std::string(SWAPGATE_SIM_BIN) + " --listen 127.0.0.1:${PORT} --model " + marker + "-" + name +
           ",loaded=1" + (spec.empty() ? "" : "," + spec) + " --quiet";
}

// Indents each line of `lines` ("key: value\n...") by four spaces.
inline std::string indent4(const std::string& lines) {
    std::string out;
    std::istringstream in(lines);
    std::string l;
    while (std::getline(in, l))
        if (!l.empty()) out += "    " + l + "\n";
    return out;
}

// One `process` model. Quick-swap defaults (load_cost 1s, min_residency 0s)
// unless `extra` sets them; `extra` is "key: value" lines.
inline std::string process_model(const std::string& name, const std::string& command, long long memory_mb,
                                 const std::string& extra = "") {
    std::string y = "  - name: " + name + "\n    driver: process\n    command: \"" + command + "\"\n" +
                    "    memory_mb: " + std::to_string(memory_mb) + "\n";
    if (extra.find("load_cost:") == std::string::npos) y += "    load_cost: 1s\n";
    if (extra.find("min_residency:") == std::string::npos) y += "    min_residency: 0s\n";
    return y + indent4(extra);
}

inline std::string devices_yaml(long long budget_mb, int max_loaded = 2) {
    return "devices:\n  gpu0: {budget_mb: " + std::to_string(budget_mb) + ", max_loaded: " +
           std::to_string(max_loaded) + "}\n";
}

inline std::string scheduler_yaml(const std::string& extra = "", int max_loaded = 2) {
    return "scheduler: {policy: value, window: 100ms, max_loaded: " + std::to_string(max_loaded) +
           ", drain_timeout: 60s" + (extra.empty() ? "" : ", " + extra) + "}\n";
}

// ---- swapgate ---------------------------------------------------------------

inline std::string sim_field(const std::string& json_object) { return "\"sim\":" + json_object; }

class gate {
public:
    explicit gate(const std::string& yaml, std::string admin_key = "")
        : proc_(start_proxy(yaml)), admin_key_(std::move(admin_key)) {}

    int port() const { return proc_->port(); }
    child& proc() { return *proc_; }
    // Everything swapgate printed so far (also keeps its output pipe drained).
    std::string log() { return proc_->output(); }
    std::string log_tail(size_t n = 6000) {
        std::string s = log();
        return s.size() > n ? "..." + s.substr(s.size() - n) : s;
    }

    std::map<std::string, std::string> admin_headers() const {
        if (admin_key_.empty()) return {};
        return {{"Authorization", "Bearer " + admin_key_}};
    }
    json status() {
        log();
        http_client c(port());
        auto r = c.request("GET", "/admin/models", "", admin_headers());
        if (r.status != 200) throw std::runtime_error("GET /admin/models: " + std::to_string(r.status) + " " + r.body);
        return json::parse(r.body);
    }
    static json entry(const json& st, const std::string& name) {
        for (const auto& m : st.at("models"))
            if (m.value("name", "") == name) return m;
        throw std::runtime_error("no model '" + name + "' in /admin/models");
    }
    json model(const std::string& name) { return entry(status(), name); }
    std::string state(const std::string& name) { return model(name).value("state", ""); }
    // Polls /admin/models every 20 ms until `pred(status)` holds or `timeout` passes.
    template <class Pred>
    bool wait_status(Pred pred, std::chrono::milliseconds timeout = 10s) {
        auto end = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (pred(status())) return true;
            if (std::chrono::steady_clock::now() >= end) return false;
            std::this_thread::sleep_for(20ms);
        }
    }
    bool wait_state(const std::string& name, const std::string& want, std::chrono::milliseconds timeout = 10s) {
        return wait_status([&](const json& s) { return entry(s, name).value("state", "") == want; }, timeout);
    }

    http_response admin(const std::string& method, const std::string& path) {
        log();
        http_client c(port());
        return c.request(method, path, "", admin_headers());
    }
    std::string metrics() {
        log();
        http_client c(port());
        return c.request("GET", "/metrics").body;
    }
    http_response chat(const std::string& model, const std::string& extra = "", bool stream = false,
                       std::chrono::milliseconds timeout = 15s) {
        http_client c(port(), timeout);
        return c.request("POST", "/v1/chat/completions", chat_body(model, stream, extra));
    }

private:
    std::unique_ptr<child> proc_;
    std::string admin_key_;
};

// The content of a non-streamed chat completion ("" if the body is not one).
inline std::string reply_text(const http_response& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("choices") || j["choices"].empty()) return "";
    return j["choices"][0]["message"].value("content", "");
}

}  // namespace swapgate::test::swap
