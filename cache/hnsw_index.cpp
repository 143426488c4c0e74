#include "cache/hnsw_index.hpp"

// hnswlib 0.6.2 defines non-inline functions and globals in its headers (cpuid,
// AVXCapable, the SIMD function pointers): this must stay the only translation unit
// of the program that includes it.
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <exception>
#include <mutex>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace swapgate::cache {
namespace {

// Inner product kernels. hnswlib picks SSE or AVX at compile time from __SSE__ /
// __AVX__, and the build targets baseline x86-64 (a fresh Debian machine may lack
// AVX2), so hnswlib alone would give SSE. Instead we dispatch at run time: AVX2+FMA
// where the CPU (and OS) has it, SSE2 (always there on x86-64) otherwise, plain C++
// elsewhere. The exact mode uses the same kernel, so the exact/graph threshold
// compares like with like.
float ip_plain(const float* a, const float* b, std::size_t n) {
    float s = 0;
    for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

#if defined(__x86_64__)
float ip_sse2(const float* a, const float* b, std::size_t n) {
    __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps(), s2 = _mm_setzero_ps(), s3 = _mm_setzero_ps();
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
        s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4)));
        s2 = _mm_add_ps(s2, _mm_mul_ps(_mm_loadu_ps(a + i + 8), _mm_loadu_ps(b + i + 8)));
        s3 = _mm_add_ps(s3, _mm_mul_ps(_mm_loadu_ps(a + i + 12), _mm_loadu_ps(b + i + 12)));
    }
    __m128 s = _mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s) + ip_plain(a + i, b + i, n - i);
}

__attribute__((target("avx2,fma"))) float ip_avx2(const float* a, const float* b, std::size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    __m256 s8 = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s) + ip_plain(a + i, b + i, n - i);
}
#endif

using ip_fn = float (*)(const float*, const float*, std::size_t);

template <ip_fn Kernel>
float ip_distance(const void* a, const void* b, const void* dims) {
    return 1.0f -
           Kernel(static_cast<const float*>(a), static_cast<const float*>(b), *static_cast<const std::size_t*>(dims));
}

struct kernel {
    ip_fn dot;
    hnswlib::DISTFUNC<float> distance;  // 1 - dot, as hnswlib wants it
};

kernel pick_kernel() {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {ip_avx2, ip_distance<ip_avx2>};
    return {ip_sse2, ip_distance<ip_sse2>};
#else
    return {ip_plain, ip_distance<ip_plain>};
#endif
}

const kernel simd = pick_kernel();

// hnswlib's InnerProductSpace with our kernel.
class ip_space final : public hnswlib::SpaceInterface<float> {
public:
    explicit ip_space(std::size_t dims) : dims_(dims) {}
    std::size_t get_data_size() override { return dims_ * sizeof(float); }
    hnswlib::DISTFUNC<float> get_dist_func() override { return simd.distance; }
    void* get_dist_func_param() override { return &dims_; }

private:
    std::size_t dims_;
};

// Heap bytes of a std::string holding `n` chars (0 within the small-string buffer).
std::size_t string_heap(std::size_t n) { return n < 16 ? 0 : (n + 1 + 15) / 16 * 16 + 16; }

}  // namespace

struct hnsw_index::graph {
    graph(std::size_t dims, const hnsw_params& p, std::size_t capacity)
        : space(dims), hnsw(&space, capacity, p.m, p.ef_construction, p.seed) {
        hnsw.setEf(p.ef_search);
    }
    ip_space space;  // before hnsw: the graph keeps pointers into it
    hnswlib::HierarchicalNSW<float> hnsw;
    std::size_t upper_link_bytes = 0;  // link lists of the layers above 0
};

hnsw_index::hnsw_index(std::size_t dimensions, hnsw_params params, mode m)
    : dims_(dimensions), params_(params), mode_(m) {
    params_.m = std::clamp<std::size_t>(params_.m, 2, 100);
    params_.ef_search = std::max<std::size_t>(params_.ef_search, 1);
    params_.initial_capacity = std::max<std::size_t>(params_.initial_capacity, 16);
    if (mode_ == mode::graph) graph_ = std::make_unique<graph>(dims_, params_, params_.initial_capacity);
}

hnsw_index::~hnsw_index() = default;

void hnsw_index::set_ef_search(std::size_t ef) {
    params_.ef_search = std::max<std::size_t>(ef, 1);
    if (graph_) graph_->hnsw.setEf(params_.ef_search);
}

std::span<const float> hnsw_index::vector_of(std::size_t slot) const {
    if (mode_ == mode::exact) return {rows_.data() + slot * dims_, dims_};
    const auto& h = graph_->hnsw;
    auto internal = h.label_lookup_.find(slot)->second;
    return {reinterpret_cast<const float*>(h.getDataByInternalId(internal)), dims_};
}

bool hnsw_index::graph_add(std::span<const float> v, std::size_t label) {
    auto& h = graph_->hnsw;
    try {
        if (h.cur_element_count >= h.max_elements_) h.resizeIndex(2 * h.max_elements_);
        auto internal = h.addPoint(v.data(), label, -1);
        graph_->upper_link_bytes += static_cast<std::size_t>(h.element_levels_[internal]) * h.size_links_per_element_;
        return true;
    } catch (const std::exception&) {  // hnswlib throws runtime_error on allocation failures
        // addPoint may fail after registering the label: never hand that label out again
        // (a second addPoint with it would "update" a half-built node).
        if (h.label_lookup_.count(label) != 0) {
            ids_.push_back(nullptr);
            try {
                h.markDelete(label);
            } catch (const std::exception&) {
            }
        }
        return false;
    }
}

bool hnsw_index::upsert(std::string_view id, std::span<const float> v) {
    if (v.size() != dims_ || dims_ == 0) return false;
    std::string key(id);
    auto it = slot_of_.find(key);
    if (mode_ == mode::exact) {
        if (it != slot_of_.end()) {
            std::copy(v.begin(), v.end(), rows_.begin() + static_cast<std::ptrdiff_t>(it->second * dims_));
            return true;
        }
        rows_.insert(rows_.end(), v.begin(), v.end());
    } else {
        // The new node goes in first: if the graph cannot grow, the old entry stays.
        if (!graph_add(v, ids_.size())) return false;
        if (it != slot_of_.end()) {
            graph_->hnsw.markDelete(it->second);  // cannot throw: the label is live
            ids_[it->second] = nullptr;
            it->second = ids_.size();
            ids_.push_back(&it->first);
            return true;
        }
    }
    id_heap_bytes_ += string_heap(key.size());
    auto pos = slot_of_.emplace(std::move(key), ids_.size()).first;
    ids_.push_back(&pos->first);
    return true;
}

bool hnsw_index::remove(std::string_view id) {
    auto it = slot_of_.find(std::string(id));
    if (it == slot_of_.end()) return false;
    std::size_t slot = it->second;
    id_heap_bytes_ -= string_heap(it->first.size());
    if (mode_ == mode::graph) {
        try {
            graph_->hnsw.markDelete(slot);
        } catch (const std::exception&) {  // only if our label bookkeeping were wrong
        }
        ids_[slot] = nullptr;
    } else {
        std::size_t last = ids_.size() - 1;
        if (slot != last) {  // move the last row into the hole
            std::copy_n(rows_.begin() + static_cast<std::ptrdiff_t>(last * dims_), dims_,
                        rows_.begin() + static_cast<std::ptrdiff_t>(slot * dims_));
            ids_[slot] = ids_[last];
            slot_of_.find(*ids_[slot])->second = slot;
        }
        ids_.pop_back();
        rows_.resize(ids_.size() * dims_);
    }
    slot_of_.erase(it);
    return true;
}

std::optional<index_hit> hnsw_index::nearest(std::span<const float> q) const {
    if (q.size() != dims_ || slot_of_.empty()) return std::nullopt;
    if (mode_ == mode::exact) {
        std::size_t best = 0;
        float best_score = -2.0f;
        for (std::size_t i = 0; i < ids_.size(); ++i) {
            float s = simd.dot(q.data(), rows_.data() + i * dims_, dims_);
            if (s > best_score) {
                best_score = s;
                best = i;
            }
        }
        return index_hit{*ids_[best], best_score};
    }
    try {
        auto top = graph_->hnsw.searchKnn(q.data(), 1);
        if (top.empty()) return std::nullopt;
        auto [distance, label] = top.top();
        if (label >= ids_.size() || ids_[label] == nullptr) return std::nullopt;  // hnswlib skips deleted ones
        return index_hit{*ids_[label], 1.0f - distance};
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::size_t hnsw_index::deleted() const { return graph_ ? graph_->hnsw.num_deleted_ : 0; }

double hnsw_index::deleted_share() const {
    if (!graph_ || graph_->hnsw.cur_element_count == 0) return 0.0;
    return static_cast<double>(graph_->hnsw.num_deleted_) / static_cast<double>(graph_->hnsw.cur_element_count);
}

std::size_t hnsw_index::capacity() const {
    return graph_ ? graph_->hnsw.max_elements_ : rows_.capacity() / std::max<std::size_t>(dims_, 1);
}

std::size_t hnsw_index::memory_bytes() const {
    // unordered_map node (next pointer, string, value, cached hash) plus its bucket.
    std::size_t ids = slot_of_.size() * (sizeof(void*) * 2 + sizeof(std::string) + sizeof(std::size_t) * 2) +
                      slot_of_.bucket_count() * sizeof(void*) + id_heap_bytes_ + ids_.size() * sizeof(void*);
    // Rows in use, not the row array's growth slack: the byte cap trims entries until
    // this fits, which must free what it counts.
    if (!graph_) return sizeof(*this) + ids + rows_.size() * sizeof(float);
    const auto& h = graph_->hnsw;
    // Level-0 blocks are allocated for the whole capacity but only the used ones
    // are touched (resident). Per-slot arrays are constructed, so they count in full.
    std::size_t per_slot = sizeof(std::mutex) + sizeof(int) + sizeof(void*) + sizeof(hnswlib::vl_type);
    std::size_t label_lookup = h.label_lookup_.size() * 32 + h.label_lookup_.bucket_count() * sizeof(void*);
    return sizeof(*this) + sizeof(graph) + ids + h.cur_element_count * h.size_data_per_element_ +
           h.max_elements_ * per_slot + graph_->upper_link_bytes + label_lookup +
           hnswlib::HierarchicalNSW<float>::max_update_element_locks * sizeof(std::mutex);
}

std::size_t hnsw_index::deleted_bytes() const {
    if (!graph_ || graph_->hnsw.num_deleted_ == 0) return 0;
    const auto& h = graph_->hnsw;
    // Level 0, label entries, the id slot, and an average share of the upper layers.
    std::size_t per_node = h.size_data_per_element_ + 32 + sizeof(void*) + graph_->upper_link_bytes / h.cur_element_count;
    return h.num_deleted_ * per_node;
}

std::unique_ptr<hnsw_index> hnsw_index::rebuilt(mode m) const {
    try {
        hnsw_params p = params_;
        p.initial_capacity = std::max(params_.initial_capacity, size() + size() / 4);
        auto fresh = std::make_unique<hnsw_index>(dims_, p, m);
        fresh->params_ = params_;
        if (m == mode::exact) fresh->rows_.reserve(size() * dims_);
        fresh->slot_of_.reserve(size());
        fresh->ids_.reserve(size());
        // Live vectors are read back from the graph (hnswlib keeps each one in its
        // level-0 block) rather than from a second copy kept on the side: that copy
        // would double the memory of large partitions, and needs no exact re-check
        // either, since a graph hit's score is already the dot product with it.
        for (std::size_t slot = 0; slot < ids_.size(); ++slot)
            if (ids_[slot] != nullptr && !fresh->upsert(*ids_[slot], vector_of(slot))) return nullptr;
        return fresh;
    } catch (const std::exception&) {  // bad_alloc, or hnswlib's runtime_error
        return nullptr;
    }
}

bool hnsw_index::rebuild() {
    auto fresh = rebuilt(mode_);
    if (!fresh) return false;
    // Swapping the maps keeps their nodes in place, so ids_ still points at the keys.
    std::swap(mode_, fresh->mode_);
    slot_of_.swap(fresh->slot_of_);
    ids_.swap(fresh->ids_);
    rows_.swap(fresh->rows_);
    graph_.swap(fresh->graph_);
    std::swap(id_heap_bytes_, fresh->id_heap_bytes_);
    return true;
}

}  // namespace swapgate::cache
