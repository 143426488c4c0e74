#include "config/yaml_reader.hpp"

#include <algorithm>
#include <limits>

namespace swapgate::config {
namespace {

// Levenshtein distance, for "did you mean" hints on misspelt keys.
size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

const char* kind_name(const YAML::Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Map: return "a map";
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Null: return "empty";
        default: return "a scalar";
    }
}

}  // namespace

std::string child_path(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
}

std::string index_path(const std::string& parent, size_t i) {
    return parent + "[" + std::to_string(i) + "]";
}

void yaml_reader::error(const std::string& path, const std::string& message) {
    errors_.push_back((path.empty() ? std::string("(top level)") : path) + ": " + message);
}

void yaml_reader::check_keys(const YAML::Node& node, const std::string& path,
                             std::initializer_list<const char*> known) {
    check_keys(node, path, std::vector<const char*>(known));
}

void yaml_reader::check_keys(const YAML::Node& node, const std::string& path, const std::vector<const char*>& known) {
    if (!node.IsMap()) return;
    for (const auto& kv : node) {
        std::string key = kv.first.Scalar();
        if (std::any_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) continue;
        std::string best;
        size_t best_d = std::numeric_limits<size_t>::max();
        for (const char* k : known) {
            size_t d = edit_distance(key, k);
            if (d < best_d) best_d = d, best = k;
        }
        std::string msg = "unknown key '" + key + "'";
        if (best_d <= 2) msg += "; did you mean '" + best + "'?";
        error(child_path(path, key), msg);
    }
}

bool yaml_reader::interpolate(const std::string& raw, const std::string& path, std::string& out) {
    out.clear();
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '$' || i + 1 >= raw.size()) {
            out += raw[i];
            continue;
        }
        if (raw[i + 1] == '$') {  // "$$" is a literal dollar
            out += '$';
            ++i;
            continue;
        }
        if (raw[i + 1] != '{') {
            out += raw[i];
            continue;
        }
        size_t close = raw.find('}', i + 2);
        if (close == std::string::npos) {
            error(path, "unterminated ${...} in '" + raw + "'");
            return false;
        }
        std::string inner = raw.substr(i + 2, close - i - 2);
        std::string name = inner, fallback;
        bool has_default = false;
        if (auto p = inner.find(":-"); p != std::string::npos) {
            name = inner.substr(0, p);
            fallback = inner.substr(p + 2);
            has_default = true;
        }
        auto value = env_(name);
        if (value && !value->empty()) out += *value;
        else if (has_default) out += fallback;
        else {
            error(path, "environment variable " + name + " is not set (use ${" + name +
                            ":-default} for a default)");
            return false;
        }
        i = close;
    }
    return true;
}

bool yaml_reader::read_string(const YAML::Node& node, const std::string& path, std::string& out) {
    if (!node) return true;
    if (!node.IsScalar()) {
        error(path, std::string("expected a string, got ") + kind_name(node));
        return false;
    }
    return interpolate(node.Scalar(), path, out);
}

bool yaml_reader::read_bool(const YAML::Node& node, const std::string& path, bool& out) {
    if (!node) return true;
    std::string s;
    if (!read_string(node, path, s)) return false;
    if (s == "true" || s == "yes" || s == "on") out = true;
    else if (s == "false" || s == "no" || s == "off") out = false;
    else {
        error(path, "expected true or false, got '" + s + "'");
        return false;
    }
    return true;
}

bool yaml_reader::read_int(const YAML::Node& node, const std::string& path, long long lo, long long hi,
                           long long& out) {
    if (!node) return true;
    std::string s;
    if (!read_string(node, path, s)) return false;
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0) {
        error(path, "expected a whole number, got '" + s + "'");
        return false;
    }
    if (v < lo || v > hi) {
        error(path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + s);
        return false;
    }
    out = v;
    return true;
}

bool yaml_reader::read_duration(const YAML::Node& node, const std::string& path, duration& out) {
    if (!node) return true;
    std::string s;
    if (!read_string(node, path, s)) return false;
    auto d = parse_duration(s);
    if (!d) {
        error(path, "expected a duration like 500ms, 30s, 5m or a number of seconds, got '" + s + "'");
        return false;
    }
    out = *d;
    return true;
}

bool yaml_reader::read_size(const YAML::Node& node, const std::string& path, std::uint64_t& out) {
    if (!node) return true;
    std::string s;
    if (!read_string(node, path, s)) return false;
    auto v = parse_size(s);
    if (!v) {
        error(path, "expected a size like 16KiB, 32MiB or a number of bytes, got '" + s + "'");
        return false;
    }
    out = *v;
    return true;
}

bool yaml_reader::read_string_list(const YAML::Node& node, const std::string& path,
                                   std::vector<std::string>& out) {
    if (!node) return true;
    if (node.IsScalar()) {  // a single string is accepted as a one-element list
        std::string s;
        if (!read_string(node, path, s)) return false;
        out.push_back(s);
        return true;
    }
    if (!node.IsSequence()) {
        error(path, std::string("expected a list of strings, got ") + kind_name(node));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < node.size(); ++i) {
        std::string s;
        if (read_string(node[i], index_path(path, i), s)) out.push_back(s);
        else ok = false;
    }
    return ok;
}

}  // namespace swapgate::config
