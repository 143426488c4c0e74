#include "bench/sim/embed.hpp"

#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>

#include "bench/sim/hash.hpp"
#include "bench/sim/wire.hpp"

namespace swapgate::sim {
namespace {

void add_word(std::vector<double>& acc, std::string_view word) {
    prng rng(mix64(fnv1a(word)));
    for (auto& x : acc) x += rng.gaussian();
}

std::vector<float> normalise(const std::vector<double>& acc) {
    double norm = 0;
    for (double x : acc) norm += x * x;
    norm = std::sqrt(norm);
    std::vector<float> out(acc.size());
    for (size_t i = 0; i < acc.size(); ++i) out[i] = static_cast<float>(norm > 0 ? acc[i] / norm : 0.0);
    return out;
}

}  // namespace

std::vector<std::string> embed_words(std::string_view text) {
    std::vector<std::string> words;
    std::string cur;
    for (unsigned char c : text) {
        // Bytes >= 0x80 (UTF-8) count as letters so non-English words survive.
        if (std::isalnum(c) || c >= 0x80) {
            cur += static_cast<char>(c < 0x80 ? std::tolower(c) : c);
        } else if (!cur.empty()) {
            words.push_back(std::move(cur));
            cur.clear();
        }
    }
    if (!cur.empty()) words.push_back(std::move(cur));
    return words;
}

std::vector<float> embed_text(std::string_view text, int dims) {
    std::vector<double> acc(static_cast<size_t>(dims > 0 ? dims : 1), 0.0);
    auto words = embed_words(text);
    if (words.empty()) add_word(acc, "\x01<empty>");
    for (const auto& w : words) add_word(acc, w);
    return normalise(acc);
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        dot += double(a[i]) * b[i];
        na += double(a[i]) * a[i];
        nb += double(b[i]) * b[i];
    }
    return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0.0;
}

std::string base64_floats(const std::vector<float>& v) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes(v.size() * 4, '\0');
    for (size_t i = 0; i < v.size(); ++i) {
        uint32_t u = std::bit_cast<uint32_t>(v[i]);
        for (int k = 0; k < 4; ++k) bytes[i * 4 + k] = static_cast<char>((u >> (8 * k)) & 0xff);
    }
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
        out += alphabet[n & 63];
    }
    if (size_t rest = bytes.size() - i; rest > 0) {
        uint32_t n = uint8_t(bytes[i]) << 16;
        if (rest == 2) n |= uint8_t(bytes[i + 1]) << 8;
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += rest == 2 ? alphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

void append_float_array(std::string& out, const std::vector<float>& v) {
    out += '[';
    char buf[32];
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v[i]);
        out.append(buf, ec == std::errc{} ? p : buf);
    }
    out += ']';
}

std::string embeddings_body(std::string_view model, const std::vector<std::vector<float>>& vectors, bool base64,
                            int64_t prompt_tokens) {
    std::string out;
    out.reserve(64 + vectors.size() * (base64 ? 1400 : 3000));
    out += R"({"object":"list","data":[)";
    for (size_t i = 0; i < vectors.size(); ++i) {
        if (i) out += ',';
        out += R"({"object":"embedding","index":)";
        out += std::to_string(i);
        out += R"(,"embedding":)";
        if (base64) {
            out += '"';
            out += base64_floats(vectors[i]);
            out += '"';
        } else {
            append_float_array(out, vectors[i]);
        }
        out += '}';
    }
    out += R"(],"model":)";
    append_json_string(out, model);
    out += R"(,"usage":{"prompt_tokens":)";
    out += std::to_string(prompt_tokens);
    out += R"(,"total_tokens":)";
    out += std::to_string(prompt_tokens);
    out += "}}";
    return out;
}

}  // namespace swapgate::sim
