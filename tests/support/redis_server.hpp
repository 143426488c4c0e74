// A real redis-server for tests: a child process on a free loopback port (or a
// unix socket in a temporary directory), persisting nothing. Blocking calls with
// bounded waits; tests only. No Asio needed.
//
//   swapgate::test::redis_server redis;              // waits until it answers PING
//   auto url = redis.url();                          // "redis://127.0.0.1:PORT/0"
//   redis.stop(); ... redis.restart();               // kill it mid-test, bring it back
//
// Start, stop and restart it from the test's own thread: the child is killed
// (PR_SET_PDEATHSIG) when the thread that started it ends, or the test crashes.
#pragma once
#include <string>
#include <sys/types.h>

namespace swapgate::test {

struct redis_server_options {
    std::string password;      // --requirepass (AUTH needed) when not empty
    bool unix_socket = false;  // listen on <tempdir>/redis.sock instead of TCP
};

class redis_server {
public:
    // Starts redis-server (from PATH or /usr/bin) and waits until it answers PING.
    // Throws std::runtime_error, failing the test, when it is not installed (run
    // scripts/test.sh) or does not come up within 10 s.
    explicit redis_server(redis_server_options opts = {});
    ~redis_server();  // SIGKILL, reaped; the temporary directory is removed
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    int port() const { return port_; }                          // 0 with a unix socket
    const std::string& socket_path() const { return socket_; }  // "" without
    // For parse_redis_url: "redis://[:password@]127.0.0.1:PORT/db" or
    // "unix://PATH?db=N[&password=...]".
    std::string url(int db = 0) const;

    void stop();     // SIGKILL now; nothing was persisted, so data is gone
    void restart();  // starts again on the same port or socket, waits for PING
    bool running() const { return pid_ > 0; }
    std::string log() const;  // what redis-server printed, for failure messages

private:
    redis_server_options opts_;
    std::string binary_;
    std::string dir_;
    std::string socket_;
    int port_ = 0;
    pid_t pid_ = -1;
    bool spawn_and_wait(std::string& why);
};

}  // namespace swapgate::test
