#include "bench/semantic/dataset.hpp"

#include "bench/load/rng.hpp"
#include "cache/vector_math.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <malloc.h>
#include <numbers>
#include <unistd.h>

namespace swapgate::bench::semantic {
namespace {

// Streams of the seed: stored rows, fresh queries, query noise, cluster centres.
constexpr std::uint64_t stored_stream = 0, fresh_stream = 1ull << 40, noise_stream = 2ull << 40,
                        centre_stream = 3ull << 40, pick_stream = 4ull << 40;

void gaussian(rng& r, std::span<float> out) {
    for (std::size_t i = 0; i < out.size(); i += 2) {  // Box-Muller, two values per draw
        double u1 = 1.0 - r.uniform(), u2 = r.uniform();
        double rad = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * std::numbers::pi * u2;
        out[i] = static_cast<float>(rad * std::cos(a));
        if (i + 1 < out.size()) out[i + 1] = static_cast<float>(rad * std::sin(a));
    }
}

void unit_gaussian(rng& r, std::span<float> out) {
    gaussian(r, out);
    cache::l2_normalize(out);
}

}  // namespace

const char* name_of(distribution d) { return d == distribution::uniform ? "uniform" : "clustered"; }

dataset::dataset(distribution d, std::size_t dims, std::uint64_t seed, std::size_t clusters)
    : dist_(d), dims_(dims), seed_(seed), clusters_(clusters) {
    if (dist_ != distribution::clustered) return;
    centres_.resize(clusters_ * dims_);
    for (std::size_t k = 0; k < clusters_; ++k) {
        rng r(seed_, centre_stream + k);
        unit_gaussian(r, std::span<float>(centres_.data() + k * dims_, dims_));
    }
}

void dataset::draw(std::uint64_t stream, std::span<float> out) const {
    rng r(seed_, stream);
    unit_gaussian(r, out);
    if (dist_ == distribution::uniform) return;
    // Topic sizes are not equal in real traffic: pick centres with a skew (the square
    // of a uniform draw favours low indexes), then add noise of norm 1.
    double u = r.uniform();
    auto k = static_cast<std::size_t>(u * u * static_cast<double>(clusters_));
    const float* c = centres_.data() + std::min(k, clusters_ - 1) * dims_;
    for (std::size_t j = 0; j < dims_; ++j) out[j] += c[j];
    cache::l2_normalize(out);
}

void dataset::row(std::size_t i, std::span<float> out) const { draw(stored_stream + i, out); }

std::vector<query> dataset::queries(std::size_t stored, std::size_t count) const {
    std::vector<query> out(count);
    rng pick(seed_, pick_stream);
    std::vector<float> noise(dims_);
    for (std::size_t i = 0; i < count; ++i) {
        query& q = out[i];
        q.vector.resize(dims_);
        if (i % 2 == 1) {  // fresh
            draw(fresh_stream + i, q.vector);
            continue;
        }
        // Near-duplicate: noise of norm eps in [0.1, 0.5] gives cosine 1/sqrt(1+eps^2),
        // 0.89..0.995 to the source; the default threshold 0.95 splits them ~60/40.
        q.near = true;
        q.source = pick.between(0, stored - 1);
        row(q.source, q.vector);
        rng r(seed_, noise_stream + i);
        unit_gaussian(r, noise);
        float eps = static_cast<float>(0.1 + 0.4 * r.uniform());
        for (std::size_t j = 0; j < dims_; ++j) q.vector[j] += eps * noise[j];
        cache::l2_normalize(q.vector);
    }
    return out;
}

std::string id_of(std::size_t i) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016zx%016zx", static_cast<std::size_t>(i * 0x9e3779b97f4a7c15ULL), i);
    return buf;
}

std::size_t resident_bytes() {
    std::ifstream f("/proc/self/statm");
    std::size_t size = 0, resident = 0;
    if (!(f >> size >> resident)) return 0;
    return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

void release_free_memory() { malloc_trim(0); }

}  // namespace swapgate::bench::semantic
