// Nearest-neighbour search over unit vectors of one semantic partition. The
// interface is what the semantic tier needs from an index, so an HNSW index for
// large partitions can replace exact_index without touching its callers.
// Implementations are not synchronised; semantic_index (semantic_index.hpp) owns
// them behind its mutex.
#pragma once
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace swapgate::cache {

struct index_hit {
    std::string id;
    float score = 0;  // dot product = cosine similarity for unit vectors
};

class vector_index {
public:
    virtual ~vector_index() = default;
    virtual std::size_t dimensions() const = 0;
    virtual std::size_t size() const = 0;
    // Adds or replaces `id`. False when the vector's length is not dimensions().
    // Vectors are expected to be unit length (vector_math.hpp: l2_normalize).
    virtual bool upsert(std::string_view id, std::span<const float> unit_vector) = 0;
    virtual bool remove(std::string_view id) = 0;
    // The highest-scoring entry; nullopt when empty or the query has the wrong length.
    virtual std::optional<index_hit> nearest(std::span<const float> unit_query) const = 0;
};

// Brute force over contiguous rows: exact, O(n·d) per query; right for partitions
// of up to a few thousand entries.
class exact_index final : public vector_index {
public:
    explicit exact_index(std::size_t dimensions);

    std::size_t dimensions() const override { return dims_; }
    std::size_t size() const override { return ids_.size(); }
    bool upsert(std::string_view id, std::span<const float> unit_vector) override;
    bool remove(std::string_view id) override;
    std::optional<index_hit> nearest(std::span<const float> unit_query) const override;

private:
    std::size_t dims_;
    std::vector<float> rows_;  // size() * dims_ floats, row i belongs to ids_[i]
    std::vector<std::string> ids_;
    std::unordered_map<std::string, std::size_t> row_of_;
};

}  // namespace swapgate::cache
