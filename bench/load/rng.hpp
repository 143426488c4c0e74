// Small, fast, seedable random numbers for workload generation (no Asio, no state shared between threads).
#pragma once
#include <cmath>
#include <cstdint>

namespace swapgate::bench {

// SplitMix64: cheap to seed (one word), so every request can own a generator derived from
// (seed, request index) and the workload does not depend on thread count or timing.
class rng {
public:
    explicit rng(std::uint64_t seed) : state_(seed) {}
    rng(std::uint64_t seed, std::uint64_t stream) : state_(mix(seed ^ mix(stream + 0x632be59bd9b4e019ULL))) {}

    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        return mix_step(z);
    }
    // Uniform in [0, 1).
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    // Uniform integer in [lo, hi] (inclusive); the modulo bias is negligible for our ranges.
    std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + next() % (hi - lo + 1); }
    // Exponential with the given mean (inter-arrival time of a Poisson process of rate 1/mean).
    double exponential(double mean) { return -std::log1p(-uniform()) * mean; }

private:
    static std::uint64_t mix_step(std::uint64_t z) {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    static std::uint64_t mix(std::uint64_t z) { return mix_step(z + 0x9e3779b97f4a7c15ULL); }
    std::uint64_t state_;
};

}  // namespace swapgate::bench
