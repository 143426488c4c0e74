#include "cache/vector_index.hpp"

#include "cache/vector_math.hpp"

#include <algorithm>

namespace swapgate::cache {

exact_index::exact_index(std::size_t dimensions) : dims_(dimensions) {}

bool exact_index::upsert(std::string_view id, std::span<const float> v) {
    if (v.size() != dims_ || dims_ == 0) return false;
    auto it = row_of_.find(std::string(id));
    if (it != row_of_.end()) {
        std::copy(v.begin(), v.end(), rows_.begin() + static_cast<std::ptrdiff_t>(it->second * dims_));
        return true;
    }
    row_of_.emplace(std::string(id), ids_.size());
    ids_.emplace_back(id);
    rows_.insert(rows_.end(), v.begin(), v.end());
    return true;
}

bool exact_index::remove(std::string_view id) {
    auto it = row_of_.find(std::string(id));
    if (it == row_of_.end()) return false;
    std::size_t row = it->second, last = ids_.size() - 1;
    row_of_.erase(it);
    if (row != last) {  // move the last row into the hole
        std::copy_n(rows_.begin() + static_cast<std::ptrdiff_t>(last * dims_), dims_,
                    rows_.begin() + static_cast<std::ptrdiff_t>(row * dims_));
        ids_[row] = std::move(ids_[last]);
        row_of_[ids_[row]] = row;
    }
    ids_.pop_back();
    rows_.resize(ids_.size() * dims_);
    return true;
}

std::optional<index_hit> exact_index::nearest(std::span<const float> q) const {
    if (q.size() != dims_ || ids_.empty()) return std::nullopt;
    std::size_t best = 0;
    float best_score = -2.0f;
    for (std::size_t i = 0; i < ids_.size(); ++i) {
        float s = dot(q, std::span<const float>(rows_.data() + i * dims_, dims_));
        if (s > best_score) {
            best_score = s;
            best = i;
        }
    }
    return index_hit{ids_[best], best_score};
}

}  // namespace swapgate::cache
