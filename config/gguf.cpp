#include "config/gguf.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <vector>

namespace swapgate::config {
namespace {

enum : std::uint32_t {
    t_u8 = 0, t_i8, t_u16, t_i16, t_u32, t_i32, t_f32, t_bool, t_string, t_array, t_u64, t_i64, t_f64
};

class reader {
public:
    explicit reader(std::ifstream& in) : in_(in) {}
    bool ok() const { return ok_; }
    template <class T>
    T num() {
        T v{};
        if (!in_.read(reinterpret_cast<char*>(&v), sizeof v)) ok_ = false;
        return v;
    }
    std::string str(std::uint64_t max_keep = 256) {
        auto n = num<std::uint64_t>();
        if (!ok_ || n > (1ull << 30)) return ok_ = false, std::string();
        if (n > max_keep) {
            in_.seekg(static_cast<std::streamoff>(n), std::ios::cur);
            return {};
        }
        std::string s(n, '\0');
        if (n && !in_.read(s.data(), static_cast<std::streamsize>(n))) ok_ = false;
        return s;
    }
    void skip(std::uint64_t n) { in_.seekg(static_cast<std::streamoff>(n), std::ios::cur); }

    // Reads a scalar as an integer; skips anything else. nullopt for non-integers.
    std::optional<long long> value(std::uint32_t type) {
        switch (type) {
            case t_u8: return num<std::uint8_t>();
            case t_i8: return num<std::int8_t>();
            case t_u16: return num<std::uint16_t>();
            case t_i16: return num<std::int16_t>();
            case t_u32: return num<std::uint32_t>();
            case t_i32: return num<std::int32_t>();
            case t_u64: return static_cast<long long>(num<std::uint64_t>());
            case t_i64: return num<std::int64_t>();
            case t_bool: return num<std::uint8_t>();
            case t_f32: skip(4); return std::nullopt;
            case t_f64: skip(8); return std::nullopt;
            case t_string: str(0); return std::nullopt;
            case t_array: {
                auto et = num<std::uint32_t>();
                auto n = num<std::uint64_t>();
                if (!ok_) return std::nullopt;
                static constexpr int width[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
                if (et > t_f64) return ok_ = false, std::nullopt;
                if (et == t_string) {
                    for (std::uint64_t i = 0; i < n && ok_; ++i) str(0);
                } else if (et == t_array) {
                    for (std::uint64_t i = 0; i < n && ok_; ++i) value(t_array);
                } else {
                    skip(n * width[et]);
                }
                return std::nullopt;
            }
            default: ok_ = false; return std::nullopt;
        }
    }

private:
    std::ifstream& in_;
    bool ok_ = true;
};

}  // namespace

std::optional<gguf_shape> read_gguf_shape(const std::string& path, std::string& why) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return why = "cannot read " + path, std::nullopt;
    reader r(in);
    char magic[4] = {};
    in.read(magic, 4);
    if (!in || std::memcmp(magic, "GGUF", 4) != 0) return why = path + " is not a GGUF file", std::nullopt;
    auto version = r.num<std::uint32_t>();
    if (version < 2 || version > 3) return why = path + ": unsupported GGUF version " + std::to_string(version), std::nullopt;
    r.num<std::uint64_t>();  // tensor count
    auto kv_count = r.num<std::uint64_t>();
    gguf_shape s;
    std::vector<std::pair<std::string, long long>> ints;
    for (std::uint64_t i = 0; i < kv_count && r.ok(); ++i) {
        std::string key = r.str();
        auto type = r.num<std::uint32_t>();
        if (!r.ok()) break;
        if (key == "general.architecture" && type == t_string) {
            s.architecture = r.str();
            continue;
        }
        if (auto v = r.value(type)) ints.emplace_back(key, *v);
    }
    if (!r.ok()) return why = path + ": truncated or malformed GGUF metadata", std::nullopt;
    const std::string a = s.architecture + ".";
    for (const auto& [k, v] : ints) {
        if (k == a + "block_count") s.block_count = v;
        else if (k == a + "embedding_length") s.embedding_length = v;
        else if (k == a + "attention.head_count") s.head_count = v;
        else if (k == a + "attention.head_count_kv") s.head_count_kv = v;
        else if (k == a + "context_length") s.context_length = v;
    }
    if (s.head_count_kv == 0) s.head_count_kv = s.head_count;
    return s;
}

long long estimate_memory_mb(long long file_bytes, const std::optional<gguf_shape>& shape, long long context) {
    const double mb = 1024.0 * 1024.0;
    double weights = static_cast<double>(file_bytes) / mb;
    double kv = weights * 0.25;
    if (shape && shape->block_count > 0 && shape->embedding_length > 0 && shape->head_count > 0) {
        double kv_dim = static_cast<double>(shape->embedding_length) / static_cast<double>(shape->head_count) *
                        static_cast<double>(shape->head_count_kv);
        kv = 2.0 * static_cast<double>(shape->block_count) * static_cast<double>(std::max<long long>(context, 1)) *
             kv_dim * 2.0 / mb;
    }
    double overhead = std::max(256.0, weights * 0.05);
    return static_cast<long long>(std::ceil(weights + kv + overhead));
}

}  // namespace swapgate::config
