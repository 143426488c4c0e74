#include "config/url.hpp"

#include <charconv>

namespace swapgate::config {

std::optional<url> parse_url(const std::string& text, std::string& why) {
    url u;
    std::string rest;
    if (text.rfind("http://", 0) == 0) rest = text.substr(7);
    else if (text.rfind("https://", 0) == 0) rest = text.substr(8), u.tls = true;
    else {
        why = "must start with http:// or https://";
        return std::nullopt;
    }
    size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : rest.substr(slash);
    if (authority.find('@') != std::string::npos) {
        why = "credentials in the URL are not supported; use api_key";
        return std::nullopt;
    }
    if (path.find_first_of("?#") != std::string::npos) {
        why = "a query or fragment is not allowed in a base URL";
        return std::nullopt;
    }
    std::string port_text;
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string::npos) {
            why = "unterminated IPv6 address";
            return std::nullopt;
        }
        u.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') {
                why = "unexpected text after the IPv6 address";
                return std::nullopt;
            }
            port_text = authority.substr(close + 2);
        }
    } else {
        size_t colon = authority.rfind(':');
        u.host = authority.substr(0, colon);
        if (colon != std::string::npos) port_text = authority.substr(colon + 1);
    }
    if (u.host.empty()) {
        why = "missing host";
        return std::nullopt;
    }
    u.port = u.tls ? 443 : 80;
    bool explicit_port = false;
    if (!port_text.empty()) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
        if (ec != std::errc{} || p != port_text.data() + port_text.size() || v == 0 || v > 65535) {
            why = "invalid port '" + port_text + "'";
            return std::nullopt;
        }
        u.port = static_cast<std::uint16_t>(v);
        explicit_port = true;
    }
    while (!path.empty() && path.back() == '/') path.pop_back();
    u.base_path = path;
    bool v6 = u.host.find(':') != std::string::npos;
    u.host_header = v6 ? "[" + u.host + "]" : u.host;
    if (explicit_port && u.port != (u.tls ? 443 : 80)) u.host_header += ":" + std::to_string(u.port);
    return u;
}

}  // namespace swapgate::config
