// Base URLs of backends: "http(s)://host[:port][/prefix]". Pure parsing.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace swapgate::config {

struct url {
    bool tls = false;
    std::string host;         // without brackets for IPv6
    std::uint16_t port = 0;   // defaulted from the scheme
    std::string base_path;    // "" or "/v1" (no trailing slash)
    std::string host_header;  // what goes into Host: (port omitted when default)
};

// nullopt with `why` set when the text is not an http(s) URL we can use.
std::optional<url> parse_url(const std::string& text, std::string& why);

}  // namespace swapgate::config
