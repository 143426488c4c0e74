// Synthetic embeddings for swapgate-semantic-bench: stored rows and queries, all
// derived from (seed, index), so every pass over the data and every run sees the
// same vectors without the benchmark keeping a third copy of them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace swapgate::bench::semantic {

enum class distribution {
    uniform,    // directions uniform on the sphere: every pair nearly orthogonal, the hardest case for a graph
    clustered,  // 1000 topic centres, each row = centre + noise (cosine ~0.7 to its centre, ~0.5 within a topic)
};

const char* name_of(distribution d);

struct query {
    std::vector<float> vector;
    bool near = false;       // a perturbed stored row (cosine 0.89..0.995 to it), else a fresh row
    std::size_t source = 0;  // the stored row a near query came from
};

class dataset {
public:
    dataset(distribution d, std::size_t dims, std::uint64_t seed, std::size_t clusters = 1000);

    std::size_t dims() const { return dims_; }
    // Stored row i, unit length.
    void row(std::size_t i, std::span<float> out) const;
    // `count` queries over the first `stored` rows: half near-duplicates, half fresh.
    std::vector<query> queries(std::size_t stored, std::size_t count) const;

private:
    void draw(std::uint64_t stream, std::span<float> out) const;  // a unit vector of this distribution

    distribution dist_;
    std::size_t dims_;
    std::uint64_t seed_;
    std::vector<float> centres_;  // clustered: clusters × dims
    std::size_t clusters_;
};

// An exact-key-like id: 32 hex characters.
std::string id_of(std::size_t i);

// Resident set size of this process (/proc/self/statm), bytes; 0 when unknown.
std::size_t resident_bytes();
// Gives freed heap memory back to the system (glibc malloc_trim).
void release_free_memory();

}  // namespace swapgate::bench::semantic
