// The client side of one connection while a request is handled: writing plain
// and chunked (streamed) responses.
// Used only from the session's strand.
#pragma once
#include "proxy/errors.hpp"
#include "proxy/net/net.hpp"

#include <atomic>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace swapgate::proxy {

using header_list = std::vector<std::pair<std::string, std::string>>;

// A request as the handlers see it (the session did the HTTP parsing and limits).
struct incoming_request {
    std::string method;
    std::string target;  // path and query as sent
    std::string path;    // without the query
    std::string authorization;
    std::string request_id;  // from X-Request-Id when acceptable, else generated
    std::string cache_control;
    std::string x_swapgate_cache;
    std::string x_task_type;
    bool http10 = false;
    std::string body;
};

class exchange_watch;

// Where a client_conn without a socket writes: the response of a coalesced
// request goes to every caller waiting for it (proxy/coalesce.hpp). Each call
// returns false when nobody listens any more.
class response_sink {
public:
    virtual ~response_sink() = default;
    virtual bool whole(int status, std::string_view content_type, std::string_view body, const header_list& extra) = 0;
    virtual bool head(int status, std::string_view content_type, const header_list& extra) = 0;
    virtual bool data(std::string_view bytes, bool last) = 0;
    virtual bool end() = 0;
    // The upstream exchange running for this response, so the sink can abort
    // it when every listener left (called on the writer's strand; null = over).
    virtual void exchange(exchange_watch* w) = 0;
};

class client_conn {
public:
    explicit client_conn(net::tcp_stream& stream) : stream_(&stream) {}
    explicit client_conn(response_sink& sink) : sink_(&sink) {}

    // The client's socket, to notice it leaving; null when writing to a sink.
    net::tcp_stream::socket_type* client_socket() { return stream_ ? &stream_->socket() : nullptr; }
    response_sink* sink() { return sink_; }
    // Whether the connection stays open after this response.
    bool keep_alive = true;
    bool http10 = false;
    bool head_only = false;  // a HEAD request: the head of the response, no body
    const std::atomic<bool>* draining = nullptr;  // when set, responses say Connection: close
    std::string request_id;
    net::beast::flat_buffer* read_buffer = nullptr;  // bytes already read past the request
    std::chrono::milliseconds write_timeout{60000};
    int status_sent = 0;  // status of the response head written, 0 = none yet

    net::awaitable<net::error_code> send(int status, std::string_view content_type, std::string_view body,
                                         const header_list& extra = {});
    net::awaitable<net::error_code> send_error(const api_error& e);
    // Chunked responses (close-delimited for HTTP/1.0 clients).
    net::awaitable<net::error_code> start_stream(int status, std::string_view content_type,
                                                 const header_list& extra = {});
    // With `last`, the chunk and the end of the body go out in one write.
    net::awaitable<net::error_code> send_chunk(std::string_view data, bool last = false);
    net::awaitable<net::error_code> end_stream();

private:
    net::tcp_stream* stream_ = nullptr;
    response_sink* sink_ = nullptr;
    std::string head_;
    void build_head(int status, std::string_view content_type, const header_list& extra, long long length);
    net::awaitable<net::error_code> write(net::asio::const_buffer a, net::asio::const_buffer b = {},
                                          net::asio::const_buffer c = {});
};


}  // namespace swapgate::proxy
