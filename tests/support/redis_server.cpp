#include "tests/support/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace swapgate::test {

namespace {

using namespace std::chrono_literals;

std::string find_redis_server() {
    if (const char* path = std::getenv("PATH")) {
        std::stringstream dirs(path);
        std::string dir;
        while (std::getline(dirs, dir, ':')) {
            std::string candidate = (dir.empty() ? "." : dir) + "/redis-server";
            if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        }
    }
    if (::access("/usr/bin/redis-server", X_OK) == 0) return "/usr/bin/redis-server";
    throw std::runtime_error(
        "redis-server not found in PATH or /usr/bin: run scripts/test.sh, which installs "
        "the packages of scripts/packages.txt (redis-server among them)");
}

// A port the kernel just handed out on 127.0.0.1; free unless someone races us
// (spawn_and_wait then tries another).
int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("redis_server: socket() failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("redis_server: could not bind a loopback port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

// True when the server answers PING (+PONG, or -NOAUTH when a password is set).
bool answers_ping(int port, const std::string& socket_path) {
    int fd = -1;
    if (!socket_path.empty()) {
        fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, socket_path.c_str(), sizeof a.sun_path - 1);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            if (fd >= 0) ::close(fd);
            return false;
        }
    } else {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            if (fd >= 0) ::close(fd);
            return false;
        }
    }
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const char ping[] = "PING\r\n";
    char buf[64] = {};
    bool ok = ::send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) == sizeof ping - 1 && ::recv(fd, buf, sizeof buf - 1, 0) > 0;
    ::close(fd);
    return ok && (std::strncmp(buf, "+PONG", 5) == 0 || std::strncmp(buf, "-NOAUTH", 7) == 0);
}

}  // namespace

redis_server::redis_server(redis_server_options opts) : opts_(std::move(opts)), binary_(find_redis_server()) {
    char tmpl[] = "/tmp/swapgate-redis-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("redis_server: mkdtemp failed");
    dir_ = tmpl;
    if (opts_.unix_socket) socket_ = dir_ + "/redis.sock";
    std::string why;
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (!opts_.unix_socket) port_ = free_port();
        if (spawn_and_wait(why)) return;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw std::runtime_error("redis_server: redis-server did not start: " + why);
}

redis_server::~redis_server() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::string redis_server::url(int db) const {
    if (opts_.unix_socket) {
        std::string u = "unix://" + socket_ + "?db=" + std::to_string(db);
        if (!opts_.password.empty()) u += "&password=" + opts_.password;
        return u;
    }
    std::string auth = opts_.password.empty() ? "" : ":" + opts_.password + "@";
    return "redis://" + auth + "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
}

void redis_server::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

void redis_server::restart() {
    stop();
    std::string why;
    // The same port may be briefly unavailable; a few tries, then give up.
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (spawn_and_wait(why)) return;
        std::this_thread::sleep_for(200ms);
    }
    throw std::runtime_error("redis_server: restart failed: " + why);
}

std::string redis_server::log() const {
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool redis_server::spawn_and_wait(std::string& why) {
    std::vector<std::string> args = {binary_, "--port", std::to_string(port_), "--save", "",
                                     "--appendonly", "no", "--daemonize", "no", "--dir", dir_};
    if (opts_.unix_socket) {
        args.insert(args.end(), {"--unixsocket", socket_, "--unixsocketperm", "700"});
    } else {
        args.insert(args.end(), {"--bind", "127.0.0.1"});
    }
    if (!opts_.password.empty()) args.insert(args.end(), {"--requirepass", opts_.password});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string log_path = dir_ + "/redis.log";

    // Only async-signal-safe calls between fork and exec: the test may run threads.
    pid_t pid = ::fork();
    if (pid < 0) {
        why = "fork failed";
        return false;
    }
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
        int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    pid_ = pid;
    auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            why = "redis-server exited at start; its log:\n" + log();
            return false;
        }
        if (answers_ping(port_, socket_)) return true;
        std::this_thread::sleep_for(10ms);
    }
    stop();
    why = "no answer to PING within 10 s; its log:\n" + log();
    return false;
}

}  // namespace swapgate::test
