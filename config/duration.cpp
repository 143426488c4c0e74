#include "config/duration.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace swapgate::config {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

// Splits "12.5ms" into 12.5 and "ms". False when no number leads.
bool split_number(std::string_view s, double& value, std::string_view& unit) {
    s = trim(s);
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return false;
    std::string num(s.substr(0, i));
    char* end = nullptr;
    value = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size() || !std::isfinite(value)) return false;
    unit = trim(s.substr(i));
    return true;
}

}  // namespace

std::optional<duration> parse_duration(std::string_view text) {
    double v = 0;
    std::string_view unit;
    if (!split_number(text, v, unit)) return std::nullopt;
    double ms;
    if (unit.empty() || unit == "s") ms = v * 1000.0;
    else if (unit == "ms") ms = v;
    else if (unit == "us") ms = v / 1000.0;
    else if (unit == "m" || unit == "min") ms = v * 60'000.0;
    else if (unit == "h") ms = v * 3'600'000.0;
    else return std::nullopt;
    if (ms > 1e15) return std::nullopt;
    return duration(static_cast<std::int64_t>(std::llround(ms)));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    double v = 0;
    std::string_view unit;
    if (!split_number(text, v, unit)) return std::nullopt;
    double mult;
    if (unit.empty() || unit == "B") mult = 1;
    else if (unit == "KiB" || unit == "K" || unit == "k") mult = 1024.0;
    else if (unit == "MiB" || unit == "M") mult = 1024.0 * 1024;
    else if (unit == "GiB" || unit == "G") mult = 1024.0 * 1024 * 1024;
    else if (unit == "KB" || unit == "kB") mult = 1000.0;
    else if (unit == "MB") mult = 1e6;
    else if (unit == "GB") mult = 1e9;
    else return std::nullopt;
    double bytes = v * mult;
    if (bytes > 1e18) return std::nullopt;
    return static_cast<std::uint64_t>(std::llround(bytes));
}

}  // namespace swapgate::config
