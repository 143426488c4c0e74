#include "cache/semantic_index.hpp"

#include "cache/vector_math.hpp"

#include <limits>

namespace swapgate::cache {
namespace {

// Bookkeeping bytes of one entry: its meta node and bucket, its order item, the key
// twice when it does not fit the small-string buffer (exact keys are 32 hex chars).
std::size_t meta_cost(const std::string& key) {
    std::size_t heap = key.size() < 16 ? 0 : (key.size() + 1 + 15) / 16 * 16 + 16;
    return 128 + 2 * heap;
}

}  // namespace

semantic_index::semantic_index(limits l, index_factory factory) : limits_(l), factory_(std::move(factory)) {
    if (!factory_)
        factory_ = [params = limits_.hnsw](std::size_t dims) {
            return std::make_unique<hnsw_index>(dims, params, hnsw_index::mode::exact);
        };
    if (limits_.max_partitions == 0) limits_.max_partitions = 1;
    if (limits_.max_entries_per_partition == 0) limits_.max_entries_per_partition = 1;
    if (limits_.hnsw_threshold == 0) limits_.hnsw_threshold = 1;
}

std::shared_lock<std::shared_mutex> semantic_index::read_lock() const {
    std::lock_guard gate(gate_);
    return std::shared_lock(mu_);
}

std::unique_lock<std::shared_mutex> semantic_index::exclusive_lock() {
    std::lock_guard gate(gate_);
    return std::unique_lock(mu_);
}

void semantic_index::account(partition& p) {
    std::size_t index_bytes = p.hnsw ? p.hnsw->memory_bytes()
                                     : p.index->size() * (p.index->dimensions() * sizeof(float) + 64);
    std::size_t now = sizeof(partition) + 64 + index_bytes + p.meta_bytes;
    bytes_ = bytes_ - p.bytes + now;
    p.bytes = now;
}

void semantic_index::erase_entry(partition& p, const std::string& id) {
    if (p.meta.erase(id) > 0) {
        p.index->remove(id);
        --entries_;
        p.meta_bytes -= meta_cost(id);
        account(p);
    }
}

bool semantic_index::evict_oldest(partition& p) {
    while (!p.order.empty()) {
        auto [old, seq] = std::move(p.order.front());
        p.order.pop_front();
        auto m = p.meta.find(old);
        if (m != p.meta.end() && m->second.seq == seq) {
            erase_entry(p, old);
            return true;
        }
    }
    return false;
}

void semantic_index::drop_partition(partition_map::iterator it) {
    entries_ -= it->second->meta.size();
    bytes_ -= it->second->bytes;
    ++evicted_partitions_;
    dropped_.push_back(std::move(it->second));  // freed by the writer once it unlocks
    parts_.erase(it);
}

void semantic_index::drop_least_recent(const partition* keep) {
    // A scan rather than a recency list: lookups then only store a tick, under the
    // shared lock. Partitions are few (max_partitions) and evictions rare.
    auto victim = parts_.end();
    std::uint64_t oldest = std::numeric_limits<std::uint64_t>::max();
    for (auto it = parts_.begin(); it != parts_.end(); ++it) {
        std::uint64_t t = it->second->last_used.load(std::memory_order_relaxed);
        if (it->second.get() != keep && t <= oldest) {
            oldest = t;
            victim = it;
        }
    }
    if (victim != parts_.end()) drop_partition(victim);
}

void semantic_index::enforce_byte_cap(partition& p) {
    while (bytes_ > limits_.max_bytes && parts_.size() > 1) drop_least_recent(&p);
    // Alone and still above the cap: drop its oldest entries. A graph frees a removed
    // node only when it is rebuilt, so leave deleted nodes out of the count (otherwise
    // every insert would evict again until the partition is empty).
    auto live_bytes = [&p] { return p.bytes - (p.hnsw ? p.hnsw->deleted_bytes() : 0); };
    while (live_bytes() > limits_.max_bytes && evict_oldest(p)) {
    }
}

void semantic_index::maintain(partition& p) {
    // Only writers change p, and we are the writer (write_mu_): reading it unlocked
    // here and building beside the lookups is safe.
    if (!p.hnsw) return;
    const bool exact = p.hnsw->current_mode() == hnsw_index::mode::exact;
    hnsw_index::mode target;
    if (exact && p.hnsw->size() >= limits_.hnsw_threshold)
        target = hnsw_index::mode::graph;
    else if (!exact && p.hnsw->deleted_share() > limits_.rebuild_deleted_share)
        target = p.hnsw->size() >= limits_.hnsw_threshold / 2 ? hnsw_index::mode::graph : hnsw_index::mode::exact;
    else
        return;
    std::unique_ptr<hnsw_index> fresh;
    {
        auto lock = read_lock();
        fresh = p.hnsw->rebuilt(target);
    }
    // Out of memory: keep searching the old index (the next write tries again).
    if (!fresh) return;
    std::unique_ptr<vector_index> old = std::move(fresh);
    {
        auto lock = exclusive_lock();
        p.hnsw = static_cast<hnsw_index*>(old.get());
        p.index.swap(old);
        ++(exact ? conversions_ : rebuilds_);
        account(p);
    }
    // `old` is freed here, outside the lock: unmapping a large graph takes a while.
}

bool semantic_index::insert(const key128& key, const std::string& entry_key, std::vector<float> vector,
                            time_point expires_at, time_point now) {
    if (vector.empty() || !l2_normalize(vector) || expires_at <= now) return false;
    std::lock_guard writer(write_mu_);
    struct free_dropped {  // on every return, after the exclusive lock is released
        std::vector<std::unique_ptr<partition>>& dropped;
        ~free_dropped() { dropped.clear(); }
    } free_later{dropped_};
    partition* p = nullptr;
    {
        auto lock = exclusive_lock();
        auto it = parts_.find(key);
        if (it == parts_.end()) {
            while (parts_.size() >= limits_.max_partitions) drop_least_recent(nullptr);
            auto fresh = std::make_unique<partition>();
            fresh->index = factory_(vector.size());
            fresh->hnsw = dynamic_cast<hnsw_index*>(fresh->index.get());
            it = parts_.emplace(key, std::move(fresh)).first;
            account(*it->second);
        }
        p = it->second.get();
        p->last_used.store(tick_.fetch_add(1) + 1, std::memory_order_relaxed);
        if (p->index->dimensions() != vector.size()) return false;

        bool fresh = !p->meta.contains(entry_key);
        if (fresh)
            while (p->meta.size() >= limits_.max_entries_per_partition && evict_oldest(*p)) {
            }
        if (!p->index->upsert(entry_key, vector)) return false;  // a replaced entry keeps its old vector
        std::uint64_t seq = ++seq_;
        p->meta[entry_key] = entry_meta{expires_at, seq};
        p->order.emplace_back(entry_key, seq);
        if (fresh) {
            ++entries_;
            p->meta_bytes += meta_cost(entry_key);
        }
        // Keep the order queue from growing without bound through replacements.
        if (p->order.size() > 2 * p->meta.size() + 16) {
            std::deque<std::pair<std::string, std::uint64_t>> live;
            for (auto& o : p->order)
                if (auto m = p->meta.find(o.first); m != p->meta.end() && m->second.seq == o.second)
                    live.push_back(o);
            p->order.swap(live);
        }
        account(*p);
    }
    maintain(*p);
    auto lock = exclusive_lock();
    enforce_byte_cap(*p);
    return true;
}

std::optional<semantic_index::match> semantic_index::lookup(const key128& key, std::span<const float> query,
                                                            float threshold, time_point now) {
    std::vector<float> q(query.begin(), query.end());
    if (q.empty() || !l2_normalize(q)) return std::nullopt;
    lookups_.fetch_add(1, std::memory_order_relaxed);
    for (;;) {
        std::string expired;
        {
            auto lock = read_lock();
            auto it = parts_.find(key);
            if (it == parts_.end()) return std::nullopt;
            partition& p = *it->second;
            p.last_used.store(tick_.fetch_add(1) + 1, std::memory_order_relaxed);
            auto hit = p.index->nearest(q);
            if (!hit) return std::nullopt;
            auto m = p.meta.find(hit->id);
            if (m == p.meta.end() || m->second.expires_at > now) {
                if (hit->score < threshold) return std::nullopt;
                hits_.fetch_add(1, std::memory_order_relaxed);
                return match{std::move(hit->id), hit->score};
            }
            expired = std::move(hit->id);
        }
        // Expired: drop it and look again. A lookup never waits for a writer (which
        // may be rebuilding a graph): if one is busy, this is a miss.
        std::unique_lock writer(write_mu_, std::try_to_lock);
        if (!writer.owns_lock()) return std::nullopt;
        auto lock = exclusive_lock();
        auto it = parts_.find(key);
        if (it == parts_.end()) return std::nullopt;
        auto m = it->second->meta.find(expired);
        if (m != it->second->meta.end() && m->second.expires_at <= now) erase_entry(*it->second, expired);
    }
}

bool semantic_index::remove(const key128& key, const std::string& entry_key) {
    std::lock_guard writer(write_mu_);
    partition* p = nullptr;
    {
        auto lock = exclusive_lock();
        auto it = parts_.find(key);
        if (it == parts_.end() || !it->second->meta.contains(entry_key)) return false;
        p = it->second.get();
        erase_entry(*p, entry_key);
    }
    maintain(*p);
    return true;
}

semantic_index::stats semantic_index::snapshot() const {
    auto lock = read_lock();
    stats s;
    s.partitions = parts_.size();
    s.entries = entries_;
    s.lookups = lookups_.load(std::memory_order_relaxed);
    s.hits = hits_.load(std::memory_order_relaxed);
    for (const auto& [k, p] : parts_)
        if (p->hnsw && p->hnsw->current_mode() == hnsw_index::mode::graph) ++s.graph_partitions;
    s.bytes = bytes_;
    s.conversions = conversions_;
    s.rebuilds = rebuilds_;
    s.evicted_partitions = evicted_partitions_;
    return s;
}

}  // namespace swapgate::cache
