// Deterministic hashing and pseudo-random numbers for swapgate-sim: the same
// input gives the same output on every platform and run.
#pragma once
#include <cmath>
#include <cstdint>
#include <string_view>

namespace swapgate::sim {

// FNV-1a 64 over the bytes of `s`, starting from `h`.
constexpr uint64_t fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    return h;
}

// SplitMix64 finaliser: spreads every input bit over the output.
constexpr uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Folds `v` into the running hash `h`.
constexpr uint64_t combine(uint64_t h, uint64_t v) { return mix64(h ^ mix64(v)); }

// SplitMix64 generator: tiny state, good enough statistics, fully deterministic.
class prng {
public:
    explicit constexpr prng(uint64_t seed) : state_(seed) {}
    constexpr uint64_t next() {
        state_ += 0x9e3779b97f4a7c15ull;
        uint64_t z = state_;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, n).
    constexpr uint64_t below(uint64_t n) { return n ? next() % n : 0; }
    // Uniform in (0, 1].
    double unit() { return (static_cast<double>(next() >> 11) + 1.0) * (1.0 / 9007199254740992.0); }
    // Standard normal (Box-Muller, both values used).
    double gaussian() {
        if (have_spare_) {
            have_spare_ = false;
            return spare_;
        }
        double r = std::sqrt(-2.0 * std::log(unit()));
        double t = 6.283185307179586 * unit();
        spare_ = r * std::sin(t);
        have_spare_ = true;
        return r * std::cos(t);
    }

private:
    uint64_t state_;
    double spare_ = 0;
    bool have_spare_ = false;
};

}  // namespace swapgate::sim
