// Where Redis is: "redis://[[user]:password@]host[:port][/db]" or
// "unix:///path/to/sock[?db=N]". Pure parsing, no I/O.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace swapgate::redis {

struct redis_url {
    bool unix_socket = false;
    std::string host;           // TCP only; without brackets for IPv6
    std::uint16_t port = 6379;  // TCP only
    std::string path;           // unix only: absolute path of the socket
    std::string user;           // "" = AUTH with the password only (the default user)
    std::string password;       // "" = no AUTH
    int db = 0;                 // SELECTed after connecting when not 0
};

// nullopt with `why` set (naming the offending part) when `text` is not a Redis
// URL we can use. "rediss://" is refused: TLS to Redis is not supported.
// user and password may be percent-encoded ("p%40ss" for "p@ss").
// unix:// also accepts "password" and "user" query parameters.
std::optional<redis_url> parse_redis_url(const std::string& text, std::string& why);

// The URL for logs and messages, with the password replaced by "***".
std::string display_url(const redis_url& u);

}  // namespace swapgate::redis
