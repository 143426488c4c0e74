#include "proxy/redis/redis_client.hpp"

#include "proxy/redis/redis_link.hpp"

#include <boost/asio/any_completion_handler.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>

namespace swapgate::redis {

namespace asio = net::asio;
using net::error_code;

namespace {

// One command on its way: its bytes, its deadline and the caller's handler.
struct request {
    std::string bytes;
    clock::time_point deadline;
    asio::any_completion_handler<void(redis_result)> handler;  // empty once completed
    asio::any_io_executor caller;                               // the handler's, work tracked
};

// One connection's life on the pool: created for a connect attempt, broken once.
struct session {
    session(const asio::any_io_executor& ex, bool accept_early)
        : io(std::make_shared<link>(ex)), watchdog(ex), accept_early(accept_early) {}
    std::shared_ptr<link> io;
    std::deque<std::shared_ptr<request>> queued;    // not written yet
    std::deque<std::shared_ptr<request>> inflight;  // written, awaiting replies in order
    std::string wbuf;
    asio::steady_timer watchdog;  // the earliest deadline of queued/inflight
    bool watchdog_armed = false;
    bool writing = false;
    bool ready = false;   // connected, AUTH and SELECT done
    bool broken = false;
    bool accept_early;    // takes commands while still connecting
    clock::time_point up_since;
};

struct pool_conn {
    explicit pool_conn(const asio::any_io_executor& ex) : backoff(ex) {}
    std::shared_ptr<session> current;  // null while in backoff
    net::steady_timer backoff;
};

std::string failure_message(redis_failure kind, const std::string& why) {
    switch (kind) {
    case redis_failure::unavailable: return "redis unavailable: " + why;
    case redis_failure::timeout: return "redis " + why;
    case redis_failure::connection_lost: return "redis connection lost: " + why;
    case redis_failure::protocol_error: return "redis protocol error: " + why;
    case redis_failure::shutdown: return "redis client shut down";
    default: return "redis: " + why;
    }
}

}  // namespace

struct redis_client::impl : std::enable_shared_from_this<impl> {
    impl(asio::any_io_executor ex, redis_settings s, state_callback cb)
        : strand(asio::make_strand(ex)), cfg(std::move(s)), on_state(std::move(cb)) {
        cfg.pool_size = std::max<std::size_t>(cfg.pool_size, 1);
        for (std::size_t i = 0; i < cfg.pool_size; ++i) pool.push_back(std::make_unique<pool_conn>(strand));
        blocking = std::make_shared<blocking_pool>(strand, cfg.url, cfg.connect_timeout, cfg.max_blocking_connections);
    }

    asio::any_io_executor strand;
    redis_settings cfg;
    std::vector<std::unique_ptr<pool_conn>> pool;  // fixed size; touched on `strand` only
    std::shared_ptr<blocking_pool> blocking;       // on `strand` only
    int ready_count = 0;                           // on `strand` only
    enum class shown { unknown, up, down } reported = shown::unknown;
    std::string last_error = "not connected yet";
    std::atomic<bool> closing{false};
    std::atomic<bool> up{false};
    std::atomic<std::uint64_t> n_commands{0}, n_errors{0}, n_timeouts{0}, n_reconnects{0};
    std::mutex cb_mu;  // on_state is cleared under it by shutdown()
    state_callback on_state;

    void count(const redis_result& r) {
        if (r.failure == redis_failure::timeout) ++n_timeouts;
        else if (!r.ok()) ++n_errors;
    }

    void notify(bool now_up, const std::string& why) {
        reported = now_up ? shown::up : shown::down;
        std::lock_guard lock(cb_mu);
        if (on_state) on_state(now_up, why);
    }

    // Completes a request once; the caller resumes on its own executor, never inline.
    void finish(request& r, redis_result res) {
        if (!r.handler) return;
        count(res);
        asio::any_completion_handler<void(redis_result)> h(std::move(r.handler));
        asio::post(std::move(r.caller), [h = std::move(h), res = std::move(res)]() mutable {
            std::move(h)(std::move(res));
        });
    }

    // The connection to queue on: a ready one with the least load, else one still
    // connecting that may take commands; null when Redis counts as down.
    std::shared_ptr<session> pick() {
        std::shared_ptr<session> best;
        std::size_t best_load = 0;
        for (auto& c : pool) {
            const auto& s = c->current;
            if (!s || s->broken || (!s->ready && !s->accept_early)) continue;
            std::size_t load = s->queued.size() + s->inflight.size();
            bool better = !best || (s->ready && !best->ready) || (s->ready == best->ready && load < best_load);
            if (better) best = s, best_load = load;
        }
        return best;
    }

    void submit(std::shared_ptr<request> r) {
        if (closing) return finish(*r, make_failure(redis_failure::shutdown, failure_message(redis_failure::shutdown, "")));
        if (r->bytes.empty()) return finish(*r, make_failure(redis_failure::invalid_command, "redis: empty command"));
        auto s = pick();
        if (!s) return finish(*r, make_failure(redis_failure::unavailable, failure_message(redis_failure::unavailable, last_error)));
        s->queued.push_back(std::move(r));
        start_write(s);
        arm_watchdog(s);
    }

    // Writes everything queued in one batch; again when that write completes.
    void start_write(const std::shared_ptr<session>& s) {
        if (s->writing || !s->ready || s->broken) return;
        s->wbuf.clear();
        while (!s->queued.empty()) {
            auto r = std::move(s->queued.front());
            s->queued.pop_front();
            if (!r->handler) continue;  // cancelled before it was sent
            s->wbuf += r->bytes;
            std::string().swap(r->bytes);
            s->inflight.push_back(std::move(r));
        }
        if (s->wbuf.empty()) return;
        s->writing = true;
        asio::async_write(s->io->sock, asio::buffer(s->wbuf), [self = shared_from_this(), s](error_code ec, std::size_t) {
            s->writing = false;
            if (s->wbuf.capacity() > 256 * 1024) std::string().swap(s->wbuf);
            if (s->broken || self->closing) return;
            if (ec) return self->break_session(*s, redis_failure::connection_lost, "write failed: " + io_error_text(ec));
            self->start_write(s);
        });
    }

    // Deadlines are in FIFO order, so one timer at the oldest deadline suffices.
    void arm_watchdog(const std::shared_ptr<session>& s) {
        if (s->watchdog_armed || s->broken) return;
        auto next = clock::time_point::max();
        if (!s->inflight.empty()) next = s->inflight.front()->deadline;
        if (!s->queued.empty()) next = std::min(next, s->queued.front()->deadline);
        if (next == clock::time_point::max()) return;
        s->watchdog_armed = true;
        s->watchdog.expires_at(next);
        s->watchdog.async_wait([self = shared_from_this(), s](error_code) {
            s->watchdog_armed = false;
            if (s->broken || self->closing) return;
            self->check_deadlines(s);
        });
    }

    void check_deadlines(const std::shared_ptr<session>& s) {
        auto now = clock::now();
        std::string why = "command timed out after " + std::to_string(cfg.command_timeout.count()) + " ms";
        // A written command without its reply: the connection must go, or later
        // replies would be matched to the wrong requests.
        if (!s->inflight.empty() && s->inflight.front()->deadline <= now)
            return break_session(*s, redis_failure::timeout, why);
        while (!s->queued.empty() && s->queued.front()->deadline <= now) {
            auto r = std::move(s->queued.front());
            s->queued.pop_front();
            finish(*r, make_failure(redis_failure::timeout, failure_message(redis_failure::timeout, why)));
        }
        arm_watchdog(s);
    }

    // Closes the session's socket (its coroutine then ends) and fails what it holds.
    void break_session(session& s, redis_failure kind, const std::string& why) {
        if (s.broken) return;
        s.broken = true;
        s.io->close();
        s.watchdog.cancel();
        auto now = clock::now();
        auto other = kind == redis_failure::timeout
                         ? make_failure(redis_failure::connection_lost,
                                        "redis connection reset after another command timed out")
                         : make_failure(kind, failure_message(kind, why));
        for (auto& r : s.inflight) {
            if (kind == redis_failure::timeout && r->deadline <= now)
                finish(*r, make_failure(kind, failure_message(kind, why)));
            else
                finish(*r, other);
        }
        for (auto& r : s.queued) finish(*r, other);
        s.inflight.clear();
        s.queued.clear();
        if (kind != redis_failure::shutdown) last_error = why;
        if (s.ready) {
            s.ready = false;
            if (--ready_count == 0) up = false;
        }
        if (ready_count == 0 && reported != shown::down && kind != redis_failure::shutdown) notify(false, why);
    }

    void session_ready(const std::shared_ptr<session>& s) {
        s->ready = true;
        s->up_since = clock::now();
        ++ready_count;
        up = true;
        if (reported != shown::up) notify(true, "connected to " + display_url(cfg.url));
        start_write(s);
        arm_watchdog(s);
    }

    void do_shutdown() {
        for (auto& c : pool) {
            c->backoff.cancel();
            if (c->current) break_session(*c->current, redis_failure::shutdown, "");
        }
        blocking->close_all();
        up = false;
    }

    // One pooled connection, for the client's whole life: connect, serve, reconnect.
    static net::awaitable<void> run_pool_conn(std::shared_ptr<impl> self, std::size_t index) {
        pool_conn& c = *self->pool[index];
        auto backoff = self->cfg.backoff_initial;
        bool accept_early = true;  // first attempt, or right after a long-lived connection dropped
        bool wait_first = false;
        bool was_up = false;
        while (!self->closing) {
            if (wait_first) {
                c.backoff.expires_after(backoff);
                co_await c.backoff.async_wait();
                if (self->closing) break;
                backoff = std::min(backoff * 2, self->cfg.backoff_max);
            }
            auto s = std::make_shared<session>(self->strand, accept_early);
            c.current = s;
            std::string err = co_await open_link(s->io, self->cfg.url, self->cfg.connect_timeout);
            if (self->closing) break;
            if (!err.empty()) {
                self->break_session(*s, redis_failure::unavailable, err);
                c.current.reset();
                accept_early = false;
                wait_first = true;
                continue;
            }
            if (was_up) ++self->n_reconnects;
            was_up = true;
            self->session_ready(s);
            co_await read_loop(self, s);
            c.current.reset();
            // A connection that was up for a while reconnects at once; one that
            // drops right away backs off, so a server that accepts and closes is not hammered.
            bool lived = clock::now() - s->up_since >= std::chrono::seconds(1);
            if (lived) backoff = self->cfg.backoff_initial;
            accept_early = lived;
            wait_first = !lived;
        }
    }

    // Matches replies to requests in order until the session breaks.
    static net::awaitable<void> read_loop(std::shared_ptr<impl> self, std::shared_ptr<session> s) {
        link& l = *s->io;
        redis_reply reply;
        for (;;) {
            for (;;) {
                auto st = l.decoder.next(reply);
                if (st == resp_decoder::status::need_more) break;
                if (st == resp_decoder::status::protocol_error)
                    co_return self->break_session(*s, redis_failure::protocol_error, l.decoder.error());
                if (s->inflight.empty())
                    co_return self->break_session(*s, redis_failure::protocol_error,
                                                  "a reply nobody asked for: " + describe(reply));
                auto r = std::move(s->inflight.front());
                s->inflight.pop_front();
                self->finish(*r, make_result(std::move(reply)));
                reply = redis_reply{};
            }
            auto [ec, n] = co_await l.sock.async_read_some(asio::buffer(l.rbuf), net::use_tuple);
            if (s->broken || self->closing) co_return;
            if (ec) co_return self->break_session(*s, redis_failure::connection_lost, io_error_text(ec));
            if (!l.decoder.feed(l.rbuf.data(), n))
                co_return self->break_session(*s, redis_failure::protocol_error, l.decoder.error());
        }
    }

    static net::awaitable<redis_result> blocking_call(std::shared_ptr<impl> self, std::string bytes,
                                                     std::chrono::milliseconds timeout) {
        // Cancellation is checked by hand below; a throw would reach the caller.
        co_await asio::this_coro::throw_if_cancelled(false);
        redis_result res;
        if (bytes.empty()) {
            res = make_failure(redis_failure::invalid_command, "redis: empty command");
        } else if (self->closing) {
            res = make_failure(redis_failure::shutdown, failure_message(redis_failure::shutdown, ""));
        } else if (!self->pick()) {
            res = make_failure(redis_failure::unavailable, failure_message(redis_failure::unavailable, self->last_error));
        } else {
            res = co_await run_blocking(self->blocking, std::move(bytes), clock::now() + timeout);
        }
        self->count(res);
        co_return res;
    }

    // Hands a request to the strand; the caller's handler is kept type-erased.
    struct command_init {
        std::shared_ptr<impl> self;
        std::shared_ptr<request> req;

        template <class Handler>
        void operator()(Handler&& handler) {
            auto slot = asio::get_associated_cancellation_slot(handler);
            req->caller = asio::prefer(asio::get_associated_executor(handler, self->strand),
                                       asio::execution::outstanding_work.tracked);
            asio::any_completion_handler<void(redis_result)>(std::forward<Handler>(handler)).swap(req->handler);
            if (slot.is_connected()) slot.template emplace<canceller>(self, req);
            auto s = std::move(self);
            asio::dispatch(s->strand, [s, r = std::move(req)]() mutable { s->submit(std::move(r)); });
        }
    };

    // Installed in the caller's cancellation slot: completes the request with
    // `cancelled`; its reply, if it comes, is then dropped.
    struct canceller {
        canceller(std::weak_ptr<impl> s, std::weak_ptr<request> r) : self(std::move(s)), req(std::move(r)) {}
        std::weak_ptr<impl> self;
        std::weak_ptr<request> req;
        void operator()(asio::cancellation_type) {
            auto s = self.lock();
            if (!s) return;
            asio::post(s->strand, [s, w = req] {
                if (auto r = w.lock()) s->finish(*r, make_failure(redis_failure::cancelled, "redis command cancelled"));
            });
        }
    };
};

redis_client::redis_client(asio::any_io_executor ex, redis_settings settings, state_callback on_state)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(settings), std::move(on_state))) {
    for (std::size_t i = 0; i < impl_->pool.size(); ++i)
        asio::co_spawn(impl_->strand, impl::run_pool_conn(impl_, i), asio::detached);
}

redis_client::~redis_client() { shutdown(); }

net::awaitable<redis_result> redis_client::command(std::vector<std::string> args) {
    ++impl_->n_commands;
    auto req = std::make_shared<request>();
    if (!args.empty()) req->bytes = encode_command(args);
    req->deadline = clock::now() + impl_->cfg.command_timeout;
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(redis_result)>(
        impl::command_init{impl_, std::move(req)}, asio::use_awaitable);
}

net::awaitable<redis_result> redis_client::blocking_command(std::vector<std::string> args,
                                                            std::chrono::milliseconds timeout) {
    ++impl_->n_commands;
    std::string bytes;
    if (!args.empty()) bytes = encode_command(args);
    return asio::co_spawn(impl_->strand, impl::blocking_call(impl_, std::move(bytes), timeout), asio::use_awaitable);
}

bool redis_client::available() const { return impl_->up.load(); }

redis_counters redis_client::counters() const {
    redis_counters c;
    c.commands = impl_->n_commands.load(std::memory_order_relaxed);
    c.errors = impl_->n_errors.load(std::memory_order_relaxed);
    c.timeouts = impl_->n_timeouts.load(std::memory_order_relaxed);
    c.reconnects = impl_->n_reconnects.load(std::memory_order_relaxed);
    return c;
}

const redis_settings& redis_client::settings() const { return impl_->cfg; }

void redis_client::shutdown() {
    if (impl_->closing.exchange(true)) return;
    {
        std::lock_guard lock(impl_->cb_mu);
        impl_->on_state = nullptr;
    }
    asio::dispatch(impl_->strand, [self = impl_] { self->do_shutdown(); });
}

}  // namespace swapgate::redis
