// Test harness: child processes on loopback and a blocking raw HTTP/1.1 client.
// Tests only: blocking calls are fine here, every wait is bounded.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <sys/types.h>

namespace swapgate::test {

using namespace std::chrono_literals;

// A server started as a child process. It must print one stdout line
// {"event":"listening","address":"...","port":N} once it accepts connections.
// The destructor kills the whole process group (SIGKILL) and reaps it.
class child {
public:
    child(pid_t pid, int out_fd);
    ~child();
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    pid_t pid() const { return pid_; }
    int port() const { return port_; }
    void signal(int sig);
    // Waits up to `timeout` for the process to exit; returns its exit status or -1.
    int wait_exit(std::chrono::milliseconds timeout);
    // Everything the child wrote to stdout+stderr so far (drains the pipe).
    std::string output();
    bool wait_listening(std::chrono::milliseconds timeout);

private:
    pid_t pid_;
    int out_fd_;
    int port_ = 0;
    bool exited_ = false;
    std::string captured_;
    void drain(std::chrono::milliseconds timeout);
};

// Starts argv[0] with the arguments; waits until it reports its port (throws on timeout).
std::unique_ptr<child> start_server(const std::vector<std::string>& argv,
                                    std::chrono::milliseconds timeout = 20s);

struct http_response {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;                            // de-chunked
    std::string header(const std::string& name) const;
};

// A blocking HTTP/1.1 client over one loopback TCP connection. Every read has a
// timeout (default 10 s); a timeout throws std::runtime_error.
class http_client {
public:
    explicit http_client(int port, std::chrono::milliseconds timeout = 10s);
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    // Sends a request and reads the whole response (Content-Length or chunked).
    http_response request(const std::string& method, const std::string& path,
                          const std::string& body = {},
                          const std::map<std::string, std::string>& headers = {});
    // Sends only the request; then read_head() and read_chunk() to follow a stream.
    void send(const std::string& method, const std::string& path, const std::string& body = {},
              const std::map<std::string, std::string>& headers = {});
    void send_raw(std::string_view bytes);
    http_response read_head();
    // Next chunk of a chunked body; nullopt after the terminating chunk.
    std::optional<std::string> read_chunk();
    // Reads SSE events ("data: ..." payloads, one per event) until [DONE] or the end of the body.
    std::vector<std::string> read_sse_events();
    // True when the peer closes the connection within `timeout`.
    bool wait_closed(std::chrono::milliseconds timeout);
    void close();
    int fd() const { return fd_; }

private:
    int fd_ = -1;
    std::chrono::milliseconds timeout_;
    std::string buf_;
    bool fill();
    std::string read_line();
    std::string read_exact(size_t n);
};

// A scripted HTTP upstream on loopback for byte-exact relay tests: it reads each
// request (head + Content-Length body), records it, and answers with the next
// scripted reply: raw bytes written part by part with pauses in between.
class scripted_upstream {
public:
    struct part {
        std::string bytes;
        std::chrono::milliseconds pause_after{0};
    };
    struct reply {
        std::vector<part> parts;
        bool close_after = false;  // close the connection after the last part
    };
    scripted_upstream();
    ~scripted_upstream();
    int port() const { return port_; }
    // Replies are used in order; the last one repeats.
    void push(reply r);
    std::vector<std::string> requests();  // each request as received (head + body)
    int connections();                    // connections accepted so far

private:
    struct state;
    std::shared_ptr<state> st_;
    int port_ = 0;
};

// A complete HTTP/1.1 response with a Content-Length body.
std::string http_reply(int status, const std::string& content_type, const std::string& body,
                       const std::string& extra_headers = "");
// The body of a request text (after the blank line).
std::string request_body(const std::string& request);

// A fresh temporary directory, removed at process exit.
std::string temp_dir();
// Writes `text` to `path`.
void write_file(const std::string& path, const std::string& text);
// Polls `pred` every 10 ms until it holds or `timeout` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s);

}  // namespace swapgate::test

#include <thread>
template <class Pred>
bool swapgate::test::eventually(Pred pred, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}
