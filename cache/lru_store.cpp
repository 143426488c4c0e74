#include "cache/lru_store.hpp"

namespace swapgate::cache {

lru_store::lru_store(std::size_t max_bytes) : max_bytes_(max_bytes) {}

void lru_store::drop(list_t::iterator it) {
    bytes_ -= it->bytes;
    index_.erase(it->key);
    lru_.erase(it);
}

lru_store::value_ptr lru_store::get(std::string_view key, time_point now) {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) {
        ++stats_.misses;
        return nullptr;
    }
    if (it->second->expires_at <= now) {
        drop(it->second);
        ++stats_.expirations;
        ++stats_.misses;
        return nullptr;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    ++stats_.hits;
    return it->second->value;
}

bool lru_store::put(std::string key, std::string value, time_point expires_at, time_point now) {
    std::size_t bytes = key.size() + value.size() + entry_overhead;
    auto shared = std::make_shared<const std::string>(std::move(value));
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) drop(it->second);
    if (bytes > max_bytes_ || expires_at <= now) {
        ++stats_.rejected;
        return false;
    }
    if (bytes_ + bytes > max_bytes_) {
        // Expired entries go first: they cost nothing to lose.
        for (auto it = lru_.begin(); it != lru_.end();) {
            auto next = std::next(it);
            if (it->expires_at <= now) {
                drop(it);
                ++stats_.expirations;
            }
            it = next;
        }
    }
    while (bytes_ + bytes > max_bytes_ && !lru_.empty()) {
        drop(std::prev(lru_.end()));
        ++stats_.evictions;
    }
    lru_.push_front(entry{key, std::move(shared), expires_at, bytes});
    index_.emplace(std::move(key), lru_.begin());
    bytes_ += bytes;
    return true;
}

bool lru_store::erase(std::string_view key) {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    drop(it->second);
    return true;
}

std::size_t lru_store::purge_expired(time_point now) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (auto it = lru_.begin(); it != lru_.end();) {
        auto next = std::next(it);
        if (it->expires_at <= now) {
            drop(it);
            ++n;
        }
        it = next;
    }
    stats_.expirations += n;
    return n;
}

void lru_store::clear() {
    std::lock_guard lock(mu_);
    lru_.clear();
    index_.clear();
    bytes_ = 0;
}

lru_store::stats lru_store::snapshot() const {
    std::lock_guard lock(mu_);
    stats s = stats_;
    s.entries = lru_.size();
    s.bytes = bytes_;
    s.max_bytes = max_bytes_;
    return s;
}

}  // namespace swapgate::cache
