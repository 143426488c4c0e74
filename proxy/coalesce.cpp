#include "proxy/coalesce.hpp"

#include "proxy/exchange_watch.hpp"

namespace swapgate::proxy {

namespace asio = net::asio;
using net::error_code;

flight::flight(std::weak_ptr<coalescer> owner, std::string key, asio::any_io_executor driver)
    : owner_(owner), key_(std::move(key)), driver_(std::move(driver)) {}

void flight::notify(std::unique_lock<std::mutex>& lock) {
    // Each waker only posts to its caller's strand, never runs anything inline,
    // so calling them under the lock is safe and copies nothing per chunk.
    for (auto& [id, w] : wakers_)
        if (w) w();
    lock.unlock();
}

bool flight::begin(std::unique_lock<std::mutex>& lock, form kind, int status, std::string_view content_type,
                   const header_list& extra, std::string_view body) {
    if (kind_ != form::none) return !abandoned_;  // a second answer: the first one stands
    kind_ = kind;
    status_ = status;
    content_type_ = content_type;
    headers_ = extra;
    bytes_ = body;
    ended_ = kind == form::whole;
    bool ok = !abandoned_;
    notify(lock);
    return ok;
}

bool flight::whole(int status, std::string_view content_type, std::string_view body, const header_list& extra) {
    std::unique_lock lock(mu_);
    return begin(lock, form::whole, status, content_type, extra, body);
}

bool flight::head(int status, std::string_view content_type, const header_list& extra) {
    std::unique_lock lock(mu_);
    return begin(lock, form::stream, status, content_type, extra, {});
}

bool flight::data(std::string_view bytes, bool last) {
    std::unique_lock lock(mu_);
    if (kind_ != form::stream || ended_) return !abandoned_;
    bytes_.append(bytes);
    ended_ = last;
    bool ok = !abandoned_;
    notify(lock);
    return ok;
}

bool flight::end() { return data({}, true); }

void flight::exchange(exchange_watch* w) {
    watch_ = w;
    if (!w) return;
    std::lock_guard lock(mu_);
    if (abandoned_) w->client_left();
}

void flight::finish(const request_record& rec) {
    {
        std::unique_lock lock(mu_);
        if (finished_) return;
        finished_ = true;
        ended_ = true;
        rec_ = rec;
        notify(lock);
    }
    unlist();
}

void flight::unlist() {
    if (auto o = owner_.lock()) o->remove(key_, this);
}

flight::snapshot flight::read(size_t from, bool with_head) {
    std::lock_guard lock(mu_);
    snapshot s;
    s.kind = kind_;
    s.ended = ended_;
    s.finished = finished_;
    if (with_head && kind_ != form::none) {
        s.status = status_;
        s.content_type = content_type_;
        s.headers = headers_;
    }
    if (from < bytes_.size()) s.bytes = bytes_.substr(from);
    if (finished_) s.rec = rec_;
    return s;
}

void flight::set_waker(int listener, std::function<void()> wake) {
    std::lock_guard lock(mu_);
    if (auto it = wakers_.find(listener); it != wakers_.end()) it->second = std::move(wake);
}

bool flight::try_listen(int& id) {
    std::lock_guard lock(mu_);
    if (abandoned_ || finished_) return false;
    id = next_id_++;
    wakers_.emplace(id, nullptr);
    ++listeners_;
    return true;
}

void flight::leave(int listener) {
    bool abandon = false;
    {
        std::lock_guard lock(mu_);
        if (!wakers_.erase(listener)) return;
        abandon = --listeners_ == 0 && !finished_;
        if (abandon) abandoned_ = true;
    }
    if (!abandon) return;
    // Nobody waits for this answer any more: no new caller may join it, and the
    // running exchange (if any) stops as if its client had left.
    unlist();
    asio::post(driver_, [self = shared_from_this()] {
        if (self->watch_) self->watch_->client_left();
    });
}

std::shared_ptr<flight> coalescer::join(const std::string& key, bool& joined, int& listener) {
    std::lock_guard lock(mu_);
    auto it = flights_.find(key);
    if (it != flights_.end() && it->second->try_listen(listener)) {
        joined = true;
        return it->second;
    }
    joined = false;
    auto f = std::make_shared<flight>(weak_from_this(), key, asio::make_strand(ioc_));
    f->try_listen(listener);
    flights_[key] = f;
    return f;
}

void coalescer::remove(const std::string& key, const flight* f) {
    std::lock_guard lock(mu_);
    auto it = flights_.find(key);
    if (it != flights_.end() && it->second.get() == f) flights_.erase(it);
}

size_t coalescer::in_flight() {
    std::lock_guard lock(mu_);
    return flights_.size();
}

namespace {

// A caller's client while it waits for the flight: readable with nothing to
// read means it left (a pipelined next request is not a departure). Plain
// handlers on the caller's strand, as in exchange_watch.
struct departure_watch : std::enable_shared_from_this<departure_watch> {
    asio::any_io_executor strand;
    net::tcp_stream::socket_type* client;
    std::shared_ptr<net::steady_timer> timer;
    bool armed = false, stopped = false, gone = false;

    departure_watch(asio::any_io_executor s, net::tcp_stream::socket_type* c, std::shared_ptr<net::steady_timer> t)
        : strand(std::move(s)), client(c), timer(std::move(t)) {}

    void arm() {
        if (!client || armed || stopped) return;
        armed = true;
        client->async_wait(net::tcp::socket::wait_read,
                           asio::bind_executor(strand, [self = shared_from_this()](const error_code& ec) {
                               self->armed = false;
                               self->on_readable(ec);
                           }));
    }
    void on_readable(const error_code& ec) {
        if (stopped || ec == asio::error::operation_aborted) return;
        if (!ec) {
            auto r = classify_readable(*client);
            if (r == client_readable::spurious) return arm();
            if (r == client_readable::more) {
                stopped = true;  // a pipelined request: stop watching
                return;
            }
        }
        gone = true;
        timer->cancel();
    }
    void stop() {
        stopped = true;
        if (armed && client) {
            error_code ignored;
            client->cancel(ignored);
        }
    }
};

}  // namespace

net::awaitable<void> follow_flight(client_conn& conn, std::shared_ptr<flight> f, int listener, bool joined,
                                   request_record& rec) {
    auto ex = co_await asio::this_coro::executor;
    auto timer = std::make_shared<net::steady_timer>(ex);
    std::weak_ptr<net::steady_timer> weak = timer;
    f->set_waker(listener, [ex, weak] {
        asio::post(ex, [weak] {
            if (auto t = weak.lock()) t->cancel();
        });
    });
    auto watch = std::make_shared<departure_watch>(ex, conn.client_socket(), timer);
    header_list mine;
    if (joined) mine.emplace_back("X-Swapgate-Coalesced", "joined");
    size_t at = 0;
    bool started = false, gone = false;
    // The end of the response reached the client; the chain's record follows at once.
    bool answered = false;
    for (;;) {
        auto s = f->read(at, !started);
        if (!answered && s.kind == flight::form::whole && s.ended) {
            header_list h = s.headers;
            h.insert(h.end(), mine.begin(), mine.end());
            gone = static_cast<bool>(co_await conn.send(s.status, s.content_type, s.bytes, h));
            rec.status = s.status;
            answered = true;
        } else if (!answered && s.kind == flight::form::stream) {
            if (!started) {
                header_list h = s.headers;
                h.insert(h.end(), mine.begin(), mine.end());
                started = true;
                rec.status = s.status;
                gone = static_cast<bool>(co_await conn.start_stream(s.status, s.content_type, h));
            }
            if (!gone && (!s.bytes.empty() || s.ended)) {
                at += s.bytes.size();
                gone = static_cast<bool>(co_await conn.send_chunk(s.bytes, s.ended));
                answered = s.ended;
            }
        } else if (!answered && s.finished) {
            // The chain ended without writing anything: cannot happen unless a
            // bug; the caller still gets an answer.
            api_error e{502, "The request this one joined ended without an answer", "upstream_error", "",
                        "coalesced_without_answer"};
            rec.status = e.status;
            rec.error = e.code;
            gone = static_cast<bool>(co_await conn.send_error(e));
            answered = true;
        }
        if (gone) break;
        if (answered && s.finished) {
            rec.backend = s.rec.backend;
            rec.model_label = s.rec.model_label;
            rec.upstream_model = s.rec.upstream_model;
            rec.prompt_tokens = s.rec.prompt_tokens;
            rec.completion_tokens = s.rec.completion_tokens;
            rec.ttfb_ms = s.rec.ttfb_ms;
            if (rec.error.empty()) rec.error = s.rec.error;
            rec.cache = s.rec.cache;
            break;
        }
        // Wait for more, or once answered for the chain's record (moments; bounded).
        if (answered) {
            timer->expires_after(std::chrono::seconds(5));
        } else {
            watch->arm();
            timer->expires_at(net::steady_timer::time_point::max());
        }
        auto [wec] = co_await timer->async_wait();
        if (answered && !wec) break;
        if (watch->gone) {
            gone = true;
            break;
        }
    }
    watch->stop();
    f->leave(listener);
    rec.coalesced = joined;
    if (gone) {
        if (rec.status == 0) rec.status = 499;
        rec.error = "client_gone";
    }
}

}  // namespace swapgate::proxy
