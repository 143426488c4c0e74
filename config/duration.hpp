// Parsing of human-friendly durations ("250ms", "5s", "2m", "1h", bare seconds)
// and byte sizes ("16KiB", "32MiB", "1GB", bare bytes). Pure functions.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace swapgate::config {

using duration = std::chrono::milliseconds;

// nullopt when `text` is not a duration; negative values are rejected.
std::optional<duration> parse_duration(std::string_view text);
// nullopt when `text` is not a size.
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace swapgate::config
