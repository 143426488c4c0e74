// Coalescing: identical cache-eligible requests in flight at the same time
// make one upstream call.
//
// "Identical" = the same exact-cache key (namespace, resolved model, every
// field that can change the answer) and the same response form (stream or not,
// include_usage or not). The first such request starts a flight: the chain runs
// in a coroutine of its own, writing through a client_conn whose sink is the
// flight, and every caller, the first one included, copies the flight's bytes
// to its own client from its own strand. So a caller joining a stream late gets
// the chunks already received, then the live ones; any caller may leave and
// the call goes on for the others; an error reaches all of them; the upstream
// call is aborted only when every caller has left.
#pragma once
#include "proxy/client_conn.hpp"
#include "proxy/request_log.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace swapgate::proxy {

class coalescer;

class flight : public response_sink, public std::enable_shared_from_this<flight> {
public:
    flight(std::weak_ptr<coalescer> owner, std::string key, net::asio::any_io_executor driver);

    // response_sink: the writer's side (the driver's strand).
    bool whole(int status, std::string_view content_type, std::string_view body, const header_list& extra) override;
    bool head(int status, std::string_view content_type, const header_list& extra) override;
    bool data(std::string_view bytes, bool last) override;
    bool end() override;
    void exchange(exchange_watch* w) override;
    // The chain is over; `rec` is its request record. Idempotent.
    void finish(const request_record& rec);
    const net::asio::any_io_executor& driver() const { return driver_; }

    // The callers' side (any strand).
    enum class form { none, whole, stream };
    struct snapshot {
        form kind = form::none;
        int status = 0;
        std::string content_type;
        header_list headers;
        std::string bytes;  // body bytes from the offset asked for
        bool ended = false;     // the response is complete (or failed: its end is in the bytes)
        bool finished = false;  // the chain is over; `rec` is final
        request_record rec;
    };
    snapshot read(size_t from, bool with_head);
    // Called (from the writer's strand) whenever there is something new.
    void set_waker(int listener, std::function<void()> wake);
    // The caller is done with the flight (answered, or its client left). The
    // last one to leave before the end aborts the upstream call.
    void leave(int listener);

private:
    friend class coalescer;
    bool try_listen(int& id);  // false when the flight was abandoned
    void notify(std::unique_lock<std::mutex>& lock);  // unlocks
    // The response's head (and a whole body); false when nobody listens. Unlocks.
    bool begin(std::unique_lock<std::mutex>& lock, form kind, int status, std::string_view content_type,
               const header_list& extra, std::string_view body);

    void unlist();  // from the coalescer's table: no new caller may join
    const std::weak_ptr<coalescer> owner_;  // (the flight may outlive it at shutdown)
    const std::string key_;
    const net::asio::any_io_executor driver_;
    exchange_watch* watch_ = nullptr;  // the driver's strand only

    std::mutex mu_;
    form kind_ = form::none;
    int status_ = 0;
    std::string content_type_;
    header_list headers_;
    std::string bytes_;
    bool ended_ = false, finished_ = false, abandoned_ = false;
    request_record rec_;
    int listeners_ = 0, next_id_ = 0;
    std::map<int, std::function<void()>> wakers_;
};

class coalescer : public std::enable_shared_from_this<coalescer> {
public:
    explicit coalescer(net::asio::io_context& ioc) : ioc_(ioc) {}
    // Joins the flight for `key` (joined = true), or starts a new one the caller
    // must drive on its `driver()` executor. `listener` identifies the caller.
    std::shared_ptr<flight> join(const std::string& key, bool& joined, int& listener);
    // The flight takes no new callers.
    void remove(const std::string& key, const flight* f);
    size_t in_flight();

private:
    net::asio::io_context& ioc_;
    std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<flight>> flights_;
};

// Copies the flight's response to this caller's client, live, until it ends or
// the client leaves; fills `rec` from the chain's record.
net::awaitable<void> follow_flight(client_conn& conn, std::shared_ptr<flight> f, int listener, bool joined,
                                   request_record& rec);

}  // namespace swapgate::proxy
