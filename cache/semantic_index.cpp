#include "cache/semantic_index.hpp"

#include "cache/vector_math.hpp"

namespace swapgate::cache {

semantic_index::semantic_index(limits l, index_factory factory) : limits_(l), factory_(std::move(factory)) {
    if (!factory_) factory_ = [](std::size_t dims) { return std::make_unique<exact_index>(dims); };
    if (limits_.max_partitions == 0) limits_.max_partitions = 1;
    if (limits_.max_entries_per_partition == 0) limits_.max_entries_per_partition = 1;
}

void semantic_index::erase_entry(partition& p, const std::string& id) {
    if (p.meta.erase(id) > 0) {
        p.index->remove(id);
        --entries_;
    }
}

void semantic_index::drop_partition(const key128& k) {
    auto it = parts_.find(k);
    if (it == parts_.end()) return;
    entries_ -= it->second.meta.size();
    lru_.erase(it->second.lru_pos);
    parts_.erase(it);
}

bool semantic_index::insert(const key128& key, const std::string& entry_key, std::vector<float> vector,
                            time_point expires_at, time_point now) {
    if (vector.empty() || !l2_normalize(vector) || expires_at <= now) return false;
    std::lock_guard lock(mu_);
    auto it = parts_.find(key);
    if (it == parts_.end()) {
        while (parts_.size() >= limits_.max_partitions) drop_partition(lru_.back());
        partition p;
        p.index = factory_(vector.size());
        lru_.push_front(key);
        p.lru_pos = lru_.begin();
        it = parts_.emplace(key, std::move(p)).first;
    } else {
        lru_.splice(lru_.begin(), lru_, it->second.lru_pos);
    }
    partition& p = it->second;
    if (p.index->dimensions() != vector.size()) return false;

    bool fresh = !p.meta.contains(entry_key);
    if (fresh) {
        while (p.meta.size() >= limits_.max_entries_per_partition && !p.order.empty()) {
            auto [old, seq] = p.order.front();
            p.order.pop_front();
            auto m = p.meta.find(old);
            if (m != p.meta.end() && m->second.seq == seq) erase_entry(p, old);
        }
    }
    if (!p.index->upsert(entry_key, vector)) return false;
    std::uint64_t seq = ++seq_;
    p.meta[entry_key] = entry_meta{expires_at, seq};
    p.order.emplace_back(entry_key, seq);
    if (fresh) ++entries_;
    // Keep the order queue from growing without bound through replacements.
    if (p.order.size() > 2 * p.meta.size() + 16) {
        std::deque<std::pair<std::string, std::uint64_t>> live;
        for (auto& o : p.order)
            if (auto m = p.meta.find(o.first); m != p.meta.end() && m->second.seq == o.second) live.push_back(o);
        p.order.swap(live);
    }
    return true;
}

std::optional<semantic_index::match> semantic_index::lookup(const key128& key, std::span<const float> query,
                                                            float threshold, time_point now) {
    std::vector<float> q(query.begin(), query.end());
    if (q.empty() || !l2_normalize(q)) return std::nullopt;
    std::lock_guard lock(mu_);
    ++lookups_;
    auto it = parts_.find(key);
    if (it == parts_.end()) return std::nullopt;
    partition& p = it->second;
    lru_.splice(lru_.begin(), lru_, p.lru_pos);
    while (auto hit = p.index->nearest(q)) {
        auto m = p.meta.find(hit->id);
        if (m != p.meta.end() && m->second.expires_at <= now) {
            erase_entry(p, hit->id);  // expired: drop it and look again
            continue;
        }
        if (hit->score < threshold) return std::nullopt;
        ++hits_;
        return match{hit->id, hit->score};
    }
    return std::nullopt;
}

bool semantic_index::remove(const key128& key, const std::string& entry_key) {
    std::lock_guard lock(mu_);
    auto it = parts_.find(key);
    if (it == parts_.end() || !it->second.meta.contains(entry_key)) return false;
    erase_entry(it->second, entry_key);
    return true;
}

semantic_index::stats semantic_index::snapshot() const {
    std::lock_guard lock(mu_);
    return stats{parts_.size(), entries_, lookups_, hits_};
}

}  // namespace swapgate::cache
