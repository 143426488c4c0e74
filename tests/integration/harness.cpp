#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace swapgate::test {

using clock = std::chrono::steady_clock;

namespace {

int ms_left(clock::time_point end) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - clock::now()).count();
    return static_cast<int>(std::max<long long>(0, left));
}

struct temp_root {
    std::string path;
    ~temp_root() {
        if (!path.empty() && !std::getenv("SWAPGATE_KEEP_TMP")) {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
        }
    }
};
temp_root& root() {
    static temp_root r;
    return r;
}

}  // namespace

// ------------------------------------------------------------------ child

child::child(pid_t pid, int out_fd) : pid_(pid), out_fd_(out_fd) {}

child::~child() {
    if (!exited_) {
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
}

void child::signal(int sig) { ::kill(pid_, sig); }

void child::drain(std::chrono::milliseconds timeout) {
    auto end = clock::now() + timeout;
    for (;;) {
        pollfd p{out_fd_, POLLIN, 0};
        int r = ::poll(&p, 1, ms_left(end));
        if (r <= 0) return;
        char buf[4096];
        ssize_t n = ::read(out_fd_, buf, sizeof buf);
        if (n <= 0) return;
        captured_.append(buf, static_cast<size_t>(n));
        if (timeout.count() == 0) continue;
        return;
    }
}

std::string child::output() {
    drain(std::chrono::milliseconds(0));
    return captured_;
}

bool child::wait_listening(std::chrono::milliseconds timeout) {
    static const std::regex re(R"re("event":"listening".*"port":(\d+))re");
    auto end = clock::now() + timeout;
    while (clock::now() < end) {
        std::smatch m;
        if (std::regex_search(captured_, m, re)) {
            port_ = std::stoi(m[1].str());
            return true;
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            drain(std::chrono::milliseconds(100));
            return false;
        }
        drain(std::chrono::milliseconds(std::min(100, ms_left(end))));
    }
    return false;
}

int child::wait_exit(std::chrono::milliseconds timeout) {
    auto end = clock::now() + timeout;
    while (true) {
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exited_ = true;
            drain(std::chrono::milliseconds(50));
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
            return -1;
        }
        if (clock::now() >= end) return -1;
        drain(std::chrono::milliseconds(10));
    }
}

std::unique_ptr<child> start_server(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::dup2(fds[1], STDOUT_FILENO);
        ::dup2(fds[1], STDERR_FILENO);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        std::perror("execv");
        ::_exit(127);
    }
    ::close(fds[1]);
    auto c = std::make_unique<child>(pid, fds[0]);
    if (!c->wait_listening(timeout))
        throw std::runtime_error("server did not start: " + argv[0] + "\n--- its output:\n" + c->output());
    return c;
}

// ------------------------------------------------------------------ http

std::string http_response::header(const std::string& name) const {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    auto it = headers.find(lower);
    return it == headers.end() ? "" : it->second;
}

http_client::http_client(int port, std::chrono::milliseconds timeout) : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error("connect to port " + std::to_string(port) + " failed: " + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

http_client::~http_client() { close(); }

void http_client::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void http_client::send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

void http_client::send(const std::string& method, const std::string& path, const std::string& body,
                       const std::map<std::string, std::string>& headers) {
    std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    bool has_type = false;
    for (const auto& [k, v] : headers) {
        r += k + ": " + v + "\r\n";
        if (k == "Content-Type") has_type = true;
    }
    if (!body.empty() || method == "POST") {
        if (!has_type) r += "Content-Type: application/json\r\n";
        r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    r += "\r\n" + body;
    send_raw(r);
}

bool http_client::fill() {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
    if (r == 0) throw std::runtime_error("timed out waiting for the server");
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buf_.append(buf, static_cast<size_t>(n));
    return true;
}

std::string http_client::read_line() {
    for (;;) {
        auto pos = buf_.find("\r\n");
        if (pos != std::string::npos) {
            std::string line = buf_.substr(0, pos);
            buf_.erase(0, pos + 2);
            return line;
        }
        if (!fill()) throw std::runtime_error("connection closed while reading a line; got: " + buf_);
    }
}

std::string http_client::read_exact(size_t n) {
    while (buf_.size() < n)
        if (!fill()) throw std::runtime_error("connection closed in the middle of a body");
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
}

http_response http_client::read_head() {
    http_response r;
    std::string status = read_line();
    if (status.rfind("HTTP/1.", 0) != 0) throw std::runtime_error("not an HTTP response: " + status);
    r.status = std::stoi(status.substr(9, 3));
    for (;;) {
        std::string line = read_line();
        if (line.empty()) break;
        auto colon = line.find(':');
        std::string k = line.substr(0, colon), v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        std::transform(k.begin(), k.end(), k.begin(), ::tolower);
        r.headers[k] = v;
    }
    if (r.status == 100) return read_head();
    return r;
}

std::optional<std::string> http_client::read_chunk() {
    std::string size_line = read_line();
    size_t n = std::stoul(size_line, nullptr, 16);
    if (n == 0) {
        while (!read_line().empty()) {
        }
        return std::nullopt;
    }
    std::string data = read_exact(n);
    read_exact(2);
    return data;
}

http_response http_client::request(const std::string& method, const std::string& path, const std::string& body,
                                   const std::map<std::string, std::string>& headers) {
    send(method, path, body, headers);
    http_response r = read_head();
    if (r.header("transfer-encoding") == "chunked") {
        while (auto c = read_chunk()) r.body += *c;
    } else if (!r.header("content-length").empty()) {
        r.body = read_exact(std::stoul(r.header("content-length")));
    } else {
        while (fill()) {
        }
        r.body = std::move(buf_);
        buf_.clear();
    }
    return r;
}

std::vector<std::string> http_client::read_sse_events() {
    std::vector<std::string> events;
    std::string text;
    while (auto c = read_chunk()) {
        text += *c;
        size_t pos;
        while ((pos = text.find("\n\n")) != std::string::npos) {
            std::string ev = text.substr(0, pos);
            text.erase(0, pos + 2);
            if (ev.rfind("data: ", 0) == 0) {
                events.push_back(ev.substr(6));
                if (events.back() == "[DONE]") {
                    // read the terminating chunk too
                    while (read_chunk()) {
                    }
                    return events;
                }
            }
        }
    }
    return events;
}

bool http_client::wait_closed(std::chrono::milliseconds timeout) {
    auto end = clock::now() + timeout;
    while (clock::now() < end) {
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, ms_left(end));
        if (r <= 0) return false;
        char buf[4096];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
        if (n > 0) buf_.append(buf, static_cast<size_t>(n));
    }
    return false;
}

// ------------------------------------------------------------------ scripted upstream

struct scripted_upstream::state {
    int listen_fd = -1;
    std::mutex mu;
    std::vector<reply> replies;
    size_t next = 0;
    std::vector<std::string> requests;
    int connections = 0;
    std::vector<std::thread> threads;
    std::vector<int> fds;
    bool stopping = false;

    reply take() {
        std::lock_guard lock(mu);
        if (replies.empty()) return reply{{{http_reply(500, "text/plain", "no scripted reply"), {}}}};
        reply r = replies[std::min(next, replies.size() - 1)];
        ++next;
        return r;
    }

    void serve(int fd) {
        std::string buf;
        char tmp[16384];
        for (;;) {
            size_t head_end;
            while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
                ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
                if (n <= 0) return;
                buf.append(tmp, static_cast<size_t>(n));
            }
            std::string head = buf.substr(0, head_end + 4);
            std::string lower = head;
            std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
            size_t len = 0;
            if (auto p = lower.find("content-length:"); p != std::string::npos)
                len = std::stoul(head.substr(p + 15));
            while (buf.size() < head.size() + len) {
                ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
                if (n <= 0) return;
                buf.append(tmp, static_cast<size_t>(n));
            }
            {
                std::lock_guard lock(mu);
                requests.push_back(buf.substr(0, head.size() + len));
            }
            buf.erase(0, head.size() + len);
            reply r = take();
            for (const auto& p : r.parts) {
                std::string_view b = p.bytes;
                while (!b.empty()) {
                    ssize_t n = ::send(fd, b.data(), b.size(), MSG_NOSIGNAL);
                    if (n <= 0) return;
                    b.remove_prefix(static_cast<size_t>(n));
                }
                if (p.pause_after.count()) std::this_thread::sleep_for(p.pause_after);
            }
            if (r.close_after) return;
        }
    }
};

scripted_upstream::scripted_upstream() : st_(std::make_shared<state>()) {
    st_->listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(st_->listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(st_->listen_fd, 64) != 0)
        throw std::runtime_error("scripted upstream: bind/listen failed");
    socklen_t len = sizeof a;
    ::getsockname(st_->listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    auto st = st_;
    st_->threads.emplace_back([st] {
        for (;;) {
            int fd = ::accept4(st->listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) return;
            std::lock_guard lock(st->mu);
            if (st->stopping) {
                ::close(fd);
                return;
            }
            ++st->connections;
            st->fds.push_back(fd);
            st->threads.emplace_back([st, fd] {
                st->serve(fd);
                ::shutdown(fd, SHUT_RDWR);
            });
        }
    });
}

scripted_upstream::~scripted_upstream() {
    {
        std::lock_guard lock(st_->mu);
        st_->stopping = true;
        for (int fd : st_->fds) ::shutdown(fd, SHUT_RDWR);
    }
    ::shutdown(st_->listen_fd, SHUT_RDWR);
    ::close(st_->listen_fd);
    // The accept thread is first; it may still be adding threads until it sees stopping.
    st_->threads.front().join();
    std::vector<std::thread> rest;
    {
        std::lock_guard lock(st_->mu);
        rest = std::move(st_->threads);
    }
    for (size_t i = 1; i < rest.size(); ++i) rest[i].join();
    for (int fd : st_->fds) ::close(fd);
}

void scripted_upstream::push(reply r) {
    std::lock_guard lock(st_->mu);
    st_->replies.push_back(std::move(r));
}

std::vector<std::string> scripted_upstream::requests() {
    std::lock_guard lock(st_->mu);
    return st_->requests;
}

int scripted_upstream::connections() {
    std::lock_guard lock(st_->mu);
    return st_->connections;
}

std::string http_reply(int status, const std::string& content_type, const std::string& body,
                       const std::string& extra_headers) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + content_type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

std::string request_body(const std::string& request) {
    auto p = request.find("\r\n\r\n");
    return p == std::string::npos ? "" : request.substr(p + 4);
}

std::string temp_dir() {
    auto& r = root();
    if (r.path.empty()) {
        char tmpl[] = "/tmp/swapgate-test-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        r.path = tmpl;
    }
    static int n = 0;
    std::string dir = r.path + "/" + std::to_string(++n);
    std::filesystem::create_directories(dir);
    return dir;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
}

}  // namespace swapgate::test
