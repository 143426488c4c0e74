// Randomized test: thousands of random configurations and event sequences,
// replayed against a simulated world (loads and unloads complete after random
// delays or fail, requests run for random times, clients cancel, servers
// crash, admins poke). A checker follows every action and asserts the
// scheduler's invariants after every event; see SCHEDULER.md, "Invariants".
#include "scheduler_harness.hpp"

#include <cstdio>
#include <cstdlib>
#include <queue>
#include <set>
#include <sstream>

namespace swapgate::routing::test {
namespace {

struct rng {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    long long between(long long lo, long long hi) { return lo + static_cast<long long>(next() % static_cast<std::uint64_t>(hi - lo + 1)); }
    bool chance(double p) { return uniform() < p; }
    duration ms(long long lo, long long hi) { return duration{between(lo, hi)}; }
};

using view_t = scheduler::model_view;

class world {
public:
    explicit world(std::uint64_t seed) : g_{seed} {
        const char* v = std::getenv("SCHED_TRACE_SEED");
        verbose_ = v && std::strtoull(v, nullptr, 10) == seed;
    }

    // Builds a random configuration; false when create() refuses it (fine: skipped).
    bool configure() {
        const int p = static_cast<int>(g_.between(0, 3));
        st_.policy = p <= 1 ? policy_kind::value : (p == 2 ? policy_kind::fifo : policy_kind::lru);
        st_.window = g_.ms(0, 200);
        st_.drain_timeout = g_.ms(2000, 20000);
        st_.max_loaded_global = static_cast<int>(g_.between(1, 4));
        if (g_.chance(0.2)) st_.max_wait = g_.ms(3000, 15000);
        const int ndev = g_.chance(0.3) ? 2 : 1;
        for (int d = 0; d < ndev; ++d)
            devs_.push_back({d == 0 ? "gpu0" : "cpu", g_.between(6000, 16000), static_cast<int>(g_.between(1, 3))});
        const int nmod = static_cast<int>(g_.between(2, 6));
        for (int i = 0; i < nmod; ++i) {
            model_spec m;
            m.name = "m" + std::to_string(i);
            m.device = devs_[static_cast<std::size_t>(g_.between(0, ndev - 1))].name;
            const long long budget = devs_[m.device == "gpu0" ? 0 : 1].budget_mb;
            m.memory_mb = g_.between(200, budget * 3 / 4);
            const int k = static_cast<int>(g_.between(0, 9));
            m.kind = k < 4 ? lifecycle::process : k < 6 ? lifecycle::ollama : k < 9 ? lifecycle::vllm_sleep : lifecycle::static_server;
            m.pinned = g_.chance(0.1);
            m.preload = g_.chance(0.2);
            m.slots = static_cast<int>(g_.between(1, 3));
            const int t = static_cast<int>(g_.between(0, 2));
            m.ttl = t == 0 ? 0ms : t == 1 ? g_.ms(3000, 8000) : g_.ms(20000, 60000);
            m.max_queue = static_cast<int>(g_.between(2, 8));
            m.queue_timeout = g_.ms(15000, 60000);
            m.initial_load_cost = g_.ms(500, 8000);
            if (g_.chance(0.2)) m.min_residency = g_.ms(0, 10000);
            specs_.push_back(m);
        }
        auto b = scheduler::create(st_, devs_, specs_);
        if (!b.value) return false;
        s_.emplace(std::move(*b.value));
        admin_ = g_.chance(0.3);
        for (const auto& m : specs_) {
            wmodel w;
            w.true_mb = std::max<long long>(0, m.memory_mb - g_.between(0, m.memory_mb * 4 / 10));
            w.load_time = g_.ms(300, 8000);
            w.wake_time = g_.ms(100, 1500);
            w.fail_rate = g_.chance(0.3) ? 0.3 : 0.03;
            if (m.kind == lifecycle::static_server) w.st = wstate::up;
            models_.push_back(w);
        }
        return true;
    }

    // Runs `arrivals` random requests, then lets everything settle.
    void run(int arrivals) {
        time_point t = now_;
        for (int i = 0; i < arrivals; ++i) {
            t += g_.chance(0.3) ? g_.ms(0, 50) : g_.ms(0, 2500);  // bursts and gaps
            const auto m = static_cast<model_id>(g_.chance(0.5) ? g_.between(0, 1) : g_.between(0, static_cast<long long>(specs_.size()) - 1));
            reqs_.push_back({m, t, rstate::none, g_.ms(50, 8000)});
            push(t, ev::arrive, reqs_.size() - 1);
            if (g_.chance(0.12)) push(t + g_.ms(0, 20000), ev::cancel, reqs_.size() - 1);
            if (g_.chance(0.03)) push(t + g_.ms(0, 5000), ev::noise, static_cast<std::size_t>(g_.between(0, 99)));
            if (admin_ && g_.chance(0.03)) push(t + g_.ms(0, 5000), ev::admin, static_cast<std::size_t>(g_.between(0, 99)));
        }
        step([&] { s_->start(now_); });
        int guard = 0;
        while (failure_.empty() && ++guard < 200000) {
            auto w = s_->next_wakeup();
            if (events_.empty() && !w) break;
            if (w && (events_.empty() || *w < events_.top().t)) {
                if (*w < now_) fail("next_wakeup in the past");
                now_ = std::max(now_, *w);
                step([&] { s_->tick(now_); });
                continue;
            }
            auto e = events_.top();
            events_.pop();
            now_ = std::max(now_, e.t);
            handle(e);
        }
        if (guard >= 200000) fail("did not settle");
        for (std::size_t i = 0; i < reqs_.size() && failure_.empty(); ++i)
            if (reqs_[i].st != rstate::done) fail("request " + std::to_string(i) + " never ended");
    }

    const std::string& failure() const { return failure_; }
    std::string describe() const {
        std::ostringstream o;
        o << "policy=" << to_string(st_.policy) << " window=" << st_.window.count() << " global=" << st_.max_loaded_global;
        for (const auto& d : devs_) o << " [" << d.name << " " << d.budget_mb << "MB max " << d.max_loaded << "]";
        for (const auto& m : specs_)
            o << "\n  " << m.name << " " << m.device << " " << to_string(m.kind) << " " << m.memory_mb << "MB slots " << m.slots
              << (m.pinned ? " pinned" : "") << (m.preload ? " preload" : "") << " ttl " << m.ttl.count();
        o << "\nlast actions:\n" << trail_;
        return o.str();
    }
    const scheduler_counters& counters() const { return s_->counters(); }
    policy_kind policy() const { return st_.policy; }
    int asleep_crashes() const { return asleep_crashes_; }
    int early_exits() const { return early_exits_; }

private:
    enum class wstate { down, loading, up, unloading };
    enum class rstate { none, queued, running, done };
    struct wmodel {
        wstate st = wstate::down;
        long long true_mb = 0;
        bool observed = false;  // the scheduler has been told true_mb
        long long figure = 0;   // what it occupies for the budget check
        bool asleep = false;
        std::uint64_t gen = 0;
        duration load_time{0}, wake_time{0};
        double fail_rate = 0;
        std::set<request_id> queued, running;
        int served_since_load = 0;  // dispatches since the last completed load
        std::optional<time_point> draining_since;
        std::optional<time_point> unhandled_since;
    };
    struct wreq {
        model_id m;
        time_point arrived;
        rstate st;
        duration service;
    };
    struct ev {
        enum kind_t { arrive, finish, cancel, load_done, unload_done, crash, noise, admin };
        time_point t;
        std::uint64_t seq;
        kind_t kind;
        std::size_t id;
        std::uint64_t gen = 0;
        bool operator>(const ev& o) const { return t != o.t ? t > o.t : seq > o.seq; }
    };

    void push(time_point t, ev::kind_t k, std::size_t id, std::uint64_t gen = 0) { events_.push({t, seq_++, k, id, gen}); }
    void fail(const std::string& what) {
        if (!failure_.empty()) return;
        failure_ = "t=" + std::to_string((now_ - start_) / 1ms) + "ms: " + what;
        for (model_id m = 0; m < specs_.size(); ++m) {
            const auto v = s_->view(m);
            failure_ += "\n  " + name(m) + " " + std::string(to_string(v.state)) + " in_flight=" + std::to_string(v.in_flight) +
                        " queued=" + std::to_string(v.queued) + " loaded_at=" + std::to_string((v.loaded_at - start_) / 1ms) +
                        " mem=" + std::to_string(v.memory_mb) + " max_wait=" + std::to_string(v.max_wait.count()) +
                        " min_res=" + std::to_string(v.min_residency.count());
            if (!models_[m].queued.empty())
                failure_ += " oldest=" + std::to_string((reqs_[*models_[m].queued.begin()].arrived - start_) / 1ms);
        }
        auto w = s_->next_wakeup();
        failure_ += "\n  next_wakeup=" + (w ? std::to_string((*w - start_) / 1ms) : std::string("none"));
    }
    std::string name(model_id m) const { return specs_[m].name; }
    bool is_static(model_id m) const { return specs_[m].kind == lifecycle::static_server; }

    void handle(const ev& e) {
        switch (e.kind) {
            case ev::arrive: {
                auto& r = reqs_[e.id];
                const auto before = s_->view(r.m);
                r.st = rstate::queued;
                models_[r.m].queued.insert(e.id);
                auto acts = step([&] { s_->request_arrived(now_, e.id, r.m); });
                const bool free_slot = before.state == model_state::loaded && before.in_flight < before.slots && before.queued == 0;
                if (free_slot && !dispatched(acts, e.id))
                    fail("request for resident " + name(r.m) + " with a free slot was not dispatched at once");
                break;
            }
            case ev::finish:
                if (reqs_[e.id].st == rstate::running) {
                    models_[reqs_[e.id].m].running.erase(e.id);
                    reqs_[e.id].st = rstate::done;
                    step([&] { s_->request_finished(now_, e.id); });
                }
                break;
            case ev::cancel: {
                auto& r = reqs_[e.id];
                if (r.st != rstate::queued && r.st != rstate::running) break;
                models_[r.m].queued.erase(e.id);
                models_[r.m].running.erase(e.id);
                r.st = rstate::done;
                step([&] { s_->request_cancelled(now_, e.id); });
                break;
            }
            case ev::load_done: {
                auto& w = models_[e.id];
                if (w.st != wstate::loading || w.gen != e.gen) break;
                if (g_.chance(w.fail_rate)) {
                    w.st = wstate::down;
                    w.asleep = false;
                    step([&] { s_->load_failed(now_, e.id, "simulated failure"); });
                    if (!w.queued.empty()) fail("failed load of " + name(e.id) + " left requests queued");
                    break;
                }
                w.st = wstate::up;
                w.asleep = false;
                w.served_since_load = 0;
                w.observed = true;
                w.figure = w.true_mb;
                if (g_.chance(0.05)) push(now_ + g_.ms(0, 30000), ev::crash, e.id, w.gen);
                step([&] { s_->load_finished(now_, e.id, w.true_mb); });
                break;
            }
            case ev::unload_done: {
                auto& w = models_[e.id];
                if (w.st != wstate::unloading || w.gen != e.gen) break;
                w.st = wstate::down;
                w.asleep = specs_[e.id].kind == lifecycle::vllm_sleep;
                step([&] { s_->unload_finished(now_, e.id); });
                break;
            }
            case ev::crash: {
                auto& w = models_[e.id];
                // Up, unloading, or a vllm-sleep server that dies asleep.
                const bool asleep = w.st == wstate::down && w.asleep;
                if ((w.st != wstate::up && w.st != wstate::unloading && !asleep) || w.gen != e.gen) break;
                if (asleep) ++asleep_crashes_;
                w.st = wstate::down;
                w.asleep = false;
                ++w.gen;  // the pending unload_done (if any) is moot
                step([&] { s_->model_crashed(now_, e.id, "simulated crash"); });
                if (!w.running.empty()) fail("crash of " + name(e.id) + " left requests running");
                break;
            }
            case ev::noise: {
                // Events that do not fit the state must change nothing.
                const model_id m = e.id % specs_.size();
                const auto before = s_->view(m).state;
                if (models_[m].st != wstate::loading) step([&] { s_->load_finished(now_, m, 1); });
                if (models_[m].st != wstate::unloading) step([&] { s_->unload_finished(now_, m); });
                if (models_[m].st != wstate::loading) step([&] { s_->load_failed(now_, m, "noise"); });
                step([&] { s_->request_finished(now_, 1'000'000 + e.id); });
                if (s_->view(m).state != before && models_[m].st != wstate::down) fail("a stray event changed " + name(m));
                break;
            }
            case ev::admin: {
                const model_id m = e.id % specs_.size();
                switch (e.id % 4) {
                    case 0: step([&] { s_->request_load(now_, m, false); }); break;
                    case 1: step([&] { s_->request_load(now_, m, true); }); break;
                    case 2: step([&] { s_->request_unload(now_, m); }); break;
                    default: step([&] { s_->unload_idle(now_); }); break;
                }
                break;
            }
        }
    }

    // Runs one scheduler call, replays its actions on the world and checks
    // every invariant.
    template <class F>
    std::vector<action> step(F&& call) {
        std::vector<view_t> before;
        for (model_id m = 0; m < specs_.size(); ++m) before.push_back(s_->view(m));
        const bool busy_before = any_busy(before);
        const auto dropped = s_->counters().reservations_dropped;
        call();
        // Only a dropped reservation turns a draining victim back into a loaded model.
        reverted_ = s_->counters().reservations_dropped != dropped;
        auto acts = s_->take_actions();
        std::vector<bool> got_dispatch(specs_.size(), false);
        if (verbose_) {
            std::printf("t=%lld", (long long)((now_ - start_) / 1ms));
            for (model_id m = 0; m < specs_.size(); ++m) {
                const auto v = s_->view(m);
                std::printf(" %s:%s/%d/%d", name(m).c_str(), std::string(to_string(v.state)).c_str(), v.in_flight, v.queued);
            }
            std::printf("\n");
        }
        for (const auto& a : acts) {
            if (verbose_) std::printf("    %s\n", to_string(a).c_str());
            trail_ += to_string(a) + "\n";
            if (trail_.size() > 4000) trail_.erase(0, trail_.size() - 3000);
            apply(a);
            if (a.kind == action::dispatch) got_dispatch[a.model] = true;
        }
        std::vector<view_t> after;
        for (model_id m = 0; m < specs_.size(); ++m) after.push_back(s_->view(m));
        // "In progress": a swap under way, or one that waits for a victim's
        // minimum residency (plus the window the next decision may take).
        if (busy_before || any_busy(after) || residency_blocked(before) || residency_blocked(after)) last_busy_ = now_;
        check(before, after, got_dispatch);
        return acts;
    }

    // Even a request past max_wait waits for its victims' minimum residency.
    bool residency_blocked(const std::vector<view_t>& vs) const {
        for (model_id m = 0; m < vs.size(); ++m)
            if (vs[m].state == model_state::loaded && !vs[m].pinned && !is_static(m) && now_ <= vs[m].loaded_at + vs[m].min_residency + st_.window + 1ms)
                return true;
        return false;
    }

    static bool any_busy(const std::vector<view_t>& vs) {
        for (const auto& v : vs)
            if (v.state == model_state::pending || v.state == model_state::loading || v.state == model_state::draining ||
                v.state == model_state::unloading)
                return true;
        return false;
    }

    void apply(const action& a) {
        if (a.model >= specs_.size()) return fail("action for an unknown model");
        auto& w = models_[a.model];
        switch (a.kind) {
            case action::dispatch: {
                auto& r = reqs_.at(a.req);
                if (r.st != rstate::queued || r.m != a.model) return fail("dispatch of a request that is not queued on " + name(a.model));
                if (w.st != wstate::up) return fail("dispatch to " + name(a.model) + " whose server is not up");
                w.queued.erase(a.req);
                w.running.insert(a.req);
                ++w.served_since_load;
                if (static_cast<int>(w.running.size()) > specs_[a.model].slots) return fail("slots exceeded on " + name(a.model));
                r.st = rstate::running;
                push(now_ + r.service, ev::finish, a.req);
                break;
            }
            case action::reject: {
                auto& r = reqs_.at(a.req);
                if (r.st != rstate::queued) return fail("reject of a request that is not waiting");
                if (a.status != 429 && a.status != 503) return fail("unexpected status");
                if (a.retry_after < 1s) return fail("Retry-After below 1 s");
                w.queued.erase(a.req);
                r.st = rstate::done;
                break;
            }
            case action::fail_request: {
                auto& r = reqs_.at(a.req);
                if (r.st != rstate::running || r.m != a.model) return fail("fail_request of a request that is not running");
                w.running.erase(a.req);
                r.st = rstate::done;
                break;
            }
            case action::load: {
                if (is_static(a.model)) return fail("load of a static model");
                if (w.st != wstate::down) return fail("load of " + name(a.model) + " while not down (single flight)");
                if (a.wake != w.asleep) return fail("wake flag wrong for " + name(a.model));
                w.st = wstate::loading;
                w.figure = w.observed ? w.true_mb : specs_[a.model].memory_mb;
                ++w.gen;
                push(now_ + (a.wake ? w.wake_time : w.load_time), ev::load_done, a.model, w.gen);
                check_memory();
                break;
            }
            case action::unload: {
                if (is_static(a.model)) return fail("unload of a static model");
                if (w.st != wstate::up) return fail("unload of " + name(a.model) + " while not up");
                if (!w.running.empty()) return fail("unload of " + name(a.model) + " with requests running");
                if (a.sleep_level != (specs_[a.model].kind == lifecycle::vllm_sleep ? 1 : 0)) return fail("sleep level");
                w.st = wstate::unloading;
                push(now_ + g_.ms(50, 1500), ev::unload_done, a.model, w.gen);
                break;
            }
        }
    }

    void check_memory() {
        std::vector<long long> used(devs_.size(), 0);
        std::vector<int> count(devs_.size(), 0);
        int total = 0;
        for (model_id m = 0; m < specs_.size(); ++m) {
            const auto& w = models_[m];
            const auto d = static_cast<std::size_t>(std::find_if(devs_.begin(), devs_.end(), [&](const device_spec& x) { return x.name == specs_[m].device; }) - devs_.begin());
            if (is_static(m)) {
                used[d] += specs_[m].memory_mb;
                continue;
            }
            if (w.st == wstate::down) continue;
            used[d] += w.figure;
            ++count[d];
            ++total;
        }
        for (std::size_t d = 0; d < devs_.size(); ++d) {
            if (used[d] > devs_[d].budget_mb) fail("device " + devs_[d].name + " over budget: " + std::to_string(used[d]));
            if (count[d] > devs_[d].max_loaded) fail("device " + devs_[d].name + " over max_loaded");
        }
        if (total > st_.max_loaded_global) fail("global max_loaded exceeded");
    }

    void check(const std::vector<view_t>& before, const std::vector<view_t>& after, const std::vector<bool>& got_dispatch) {
        check_memory();
        for (model_id m = 0; m < specs_.size() && failure_.empty(); ++m) {
            const auto &b = before[m], &a = after[m];
            auto& w = models_[m];
            if (a.in_flight != static_cast<int>(w.running.size())) fail("in_flight of " + name(m) + " disagrees with the world");
            if (a.queued != static_cast<int>(w.queued.size())) fail("queued of " + name(m) + " disagrees with the world");
            if (a.queued > specs_[m].max_queue) fail("max_queue exceeded on " + name(m));
            if (b.state == model_state::draining && !reverted_ && got_dispatch[m])
                fail("dispatch to draining " + name(m));
            const bool leaving = a.state == model_state::draining || a.state == model_state::unloading;
            if (b.state == model_state::loaded && leaving) {
                if (specs_[m].pinned || is_static(m)) fail("pinned/static " + name(m) + " evicted");
                // Within its minimum residency only an idle model that has done
                // what it was loaded for may leave: 2+ requests served for an
                // optional swap (make_room), 1+ for a forced one (max_wait).
                // (Idle when chosen = straight to unloading; the event itself
                // may have ended its last request before the decision.)
                const bool idle = a.state == model_state::unloading;
                if ((a.eviction_reason == "make_room" || a.eviction_reason == "max_wait") &&
                    now_ - b.loaded_at < b.min_residency)
                    ++early_exits_;
                if (a.eviction_reason == "make_room" && now_ - b.loaded_at < b.min_residency &&
                    !(idle && w.served_since_load >= 2))
                    fail(name(m) + " evicted within its minimum residency (served " +
                         std::to_string(w.served_since_load) + ")");
                if (a.eviction_reason == "max_wait" && now_ - b.loaded_at < b.min_residency &&
                    !(idle && w.served_since_load >= 1))
                    fail(name(m) + " evicted within its minimum residency by max_wait (served " +
                         std::to_string(w.served_since_load) + ")");
                if (a.eviction_reason == "ttl" && (b.in_flight > 0 || b.queued > 0 || now_ < b.last_used + specs_[m].ttl))
                    fail(name(m) + " ttl-unloaded early or while busy");
                if (a.eviction_reason == "over_budget") fail("over_budget with truthful estimates");
            }
            if (a.state == model_state::loaded && !is_static(m) && !specs_[m].pinned && specs_[m].ttl > 0ms && a.in_flight == 0 &&
                a.queued == 0 && now_ >= a.last_used + specs_[m].ttl)
                fail(name(m) + " idle past its ttl");
            if (a.state == model_state::draining) {
                if (!w.draining_since || reverted_) w.draining_since = now_;  // a revert restarts the drain
                if (now_ - *w.draining_since > st_.drain_timeout) fail(name(m) + " drained past drain_timeout");
            } else {
                w.draining_since.reset();
            }
            // A request waits for a swap only while its model is unloaded or
            // asleep; time spent waiting for a slot of a resident model does not count.
            const bool handled = a.state == model_state::pending || a.state == model_state::loading || a.state == model_state::loaded ||
                                 a.state == model_state::draining || a.state == model_state::unloading;
            if (handled) w.unhandled_since.reset();
            else if (!w.unhandled_since) w.unhandled_since = now_;
            for (request_id q : w.queued) {
                const auto age = now_ - reqs_[q].arrived;
                if (age >= specs_[m].queue_timeout) fail("request waited past queue_timeout on " + name(m));
                if (st_.policy != policy_kind::value || admin_ || handled) continue;
                const auto swap_wait = now_ - std::max(reqs_[q].arrived, *w.unhandled_since);
                if (swap_wait > a.max_wait + st_.window + 1ms && now_ - last_busy_ > st_.window + 1ms)
                    fail("request for " + name(m) + " starved past max_wait with nothing in progress");
            }
        }
    }

    static bool dispatched(const std::vector<action>& as, request_id r) {
        return std::any_of(as.begin(), as.end(), [r](const action& a) { return a.kind == action::dispatch && a.req == r; });
    }

    rng g_;
    scheduler_settings st_;
    std::vector<device_spec> devs_;
    std::vector<model_spec> specs_;
    std::optional<scheduler> s_;
    std::vector<wmodel> models_;
    std::vector<wreq> reqs_;
    std::priority_queue<ev, std::vector<ev>, std::greater<>> events_;
    std::uint64_t seq_ = 0;
    const time_point start_ = time_point{} + std::chrono::hours(1);
    time_point now_ = start_;
    time_point last_busy_ = start_;
    bool admin_ = false;
    int asleep_crashes_ = 0;
    int early_exits_ = 0;  // evictions within minimum residency (idle models that served)
    bool reverted_ = false;
    bool verbose_ = false;
    std::string failure_;
    std::string trail_;
};

TEST(SchedulerRandom, InvariantsHoldOverThousandsOfRandomRuns) {
    int ran = 0, skipped = 0, asleep_crashes = 0, early_exits = 0;
    scheduler_counters total;
    for (std::uint64_t seed = 1; ran < 3000 && seed < 20000; ++seed) {
        world w(seed);
        if (!w.configure()) {
            ++skipped;
            continue;
        }
        ++ran;
        w.run(150);
        ASSERT_EQ(w.failure(), "") << "seed " << seed << "\n" << w.describe();
        const auto& c = w.counters();
        asleep_crashes += w.asleep_crashes();
        early_exits += w.early_exits();
        total.loads += c.loads;
        total.swaps += c.swaps;
        total.dispatches += c.dispatches;
        total.load_failures += c.load_failures;
        total.crashes += c.crashes;
        total.cancelled_queued += c.cancelled_queued;
        total.cancelled_running += c.cancelled_running;
        total.drain_timeouts += c.drain_timeouts;
        total.reservations_dropped += c.reservations_dropped;
        total.rejected_429 += c.rejected_429;
        total.rejected_503 += c.rejected_503;
        total.wakes += c.wakes;
    }
    EXPECT_EQ(ran, 3000);
    // The runs must actually exercise the interesting paths.
    EXPECT_GT(total.swaps, 1000u);
    EXPECT_GT(total.load_failures, 100u);
    EXPECT_GT(total.crashes, 20u);
    EXPECT_GT(asleep_crashes, 5);  // vllm-sleep servers that died asleep
    EXPECT_GT(early_exits, 50);    // idle models leaving within their minimum residency
    EXPECT_GT(total.cancelled_queued, 100u);
    EXPECT_GT(total.cancelled_running, 100u);
    EXPECT_GT(total.drain_timeouts, 10u);
    EXPECT_GT(total.reservations_dropped, 10u);
    EXPECT_GT(total.rejected_429, 100u);
    EXPECT_GT(total.wakes, 100u);
    std::printf("random runs: %d (skipped configs %d) loads %llu swaps %llu dispatches %llu load failures %llu crashes %llu "
                "cancels %llu/%llu drain timeouts %llu dropped reservations %llu 429 %llu 503 %llu wakes %llu asleep crashes %d early exits %d\n",
                ran, skipped, (unsigned long long)total.loads, (unsigned long long)total.swaps,
                (unsigned long long)total.dispatches, (unsigned long long)total.load_failures,
                (unsigned long long)total.crashes, (unsigned long long)total.cancelled_queued,
                (unsigned long long)total.cancelled_running, (unsigned long long)total.drain_timeouts,
                (unsigned long long)total.reservations_dropped, (unsigned long long)total.rejected_429,
                (unsigned long long)total.rejected_503, (unsigned long long)total.wakes, asleep_crashes, early_exits);
}

}  // namespace
}  // namespace swapgate::routing::test
