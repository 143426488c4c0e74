// Shared helpers for the cache tests: fixture loading and SSE splitting.
#pragma once
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace swapgate::cache::test {

inline std::string read_fixture(const std::string& rel) {
    std::ifstream f(std::string(SWAPGATE_FIXTURES_DIR) + "/" + rel, std::ios::binary);
    if (!f) throw std::runtime_error("missing fixture " + rel);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline nlohmann::json fixture_json(const std::string& rel) { return nlohmann::json::parse(read_fixture(rel)); }

struct sse_line {
    std::string field;  // "data" or "error"
    std::string value;
};

// The fixtures have one field line per event; that is all these tests need.
inline std::vector<sse_line> sse_lines(const std::string& text) {
    std::vector<sse_line> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line[0] == ':') continue;
        auto colon = line.find(':');
        std::string field = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.erase(0, 1);
        out.push_back({field, value});
    }
    return out;
}

// The data payloads of an SSE fixture, "[DONE]" included.
inline std::vector<std::string> sse_payloads(const std::string& rel) {
    std::vector<std::string> out;
    for (auto& l : sse_lines(read_fixture(rel)))
        if (l.field == "data") out.push_back(l.value);
    return out;
}

// Parses "data: ...\n\n" events produced by to_sse_events back into payloads.
inline std::vector<std::string> payloads_of(const std::vector<std::string>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
        EXPECT_EQ(e.rfind("data: ", 0), 0u) << e;
        EXPECT_GE(e.size(), 8u);
        EXPECT_EQ(e.substr(e.size() - 2), "\n\n");
        out.push_back(e.substr(6, e.size() - 8));
    }
    return out;
}

}  // namespace swapgate::cache::test
