#include "proxy/redis/redis_url.hpp"

#include <charconv>
#include <string_view>

namespace swapgate::redis {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decodes `in` into `out`; false on a broken escape.
bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (i + 2 >= in.size()) return false;
        int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return true;
}

bool parse_db(std::string_view text, int& db) {
    if (text.empty()) return false;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), db);
    return ec == std::errc{} && p == text.data() + text.size() && db >= 0;
}

std::optional<redis_url> fail(std::string& why, std::string text) {
    why = "redis URL: " + std::move(text);
    return std::nullopt;
}

std::optional<redis_url> parse_unix(std::string_view rest, std::string& why) {
    redis_url u;
    u.unix_socket = true;
    size_t q = rest.find('?');
    std::string_view path = rest.substr(0, q);
    if (path.empty() || path[0] != '/')
        return fail(why, "the socket path must be absolute, as in unix:///run/redis/redis.sock");
    if (path.find('#') != std::string_view::npos) return fail(why, "a fragment ('#') is not allowed");
    if (path.back() == '/') return fail(why, "the socket path ends with '/'");
    // sockaddr_un holds 108 bytes with the terminating NUL.
    if (path.size() > 107)
        return fail(why, "the socket path is " + std::to_string(path.size()) + " bytes long; unix sockets allow 107");
    u.path = std::string(path);
    if (q == std::string_view::npos) return u;
    std::string_view query = rest.substr(q + 1);
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (item.empty()) continue;
        size_t eq = item.find('=');
        std::string_view key = item.substr(0, eq);
        std::string_view value = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
        if (key == "db") {
            if (!parse_db(value, u.db)) return fail(why, "invalid db '" + std::string(value) + "' (a number >= 0)");
        } else if (key == "password" || key == "user") {
            std::string decoded;
            if (!percent_decode(value, decoded)) return fail(why, "broken percent-escape in " + std::string(key));
            (key == "password" ? u.password : u.user) = std::move(decoded);
        } else {
            return fail(why, "unknown parameter '" + std::string(key) + "' (db, password and user are known)");
        }
    }
    if (!u.user.empty() && u.password.empty()) return fail(why, "a user needs a password");
    return u;
}

std::optional<redis_url> parse_tcp(std::string_view rest, std::string& why) {
    redis_url u;
    if (rest.find_first_of("?#") != std::string_view::npos)
        return fail(why, "a query or fragment is not allowed in redis:// URLs (the db goes in the path: /2)");
    // The last '@' ends the credentials: an unescaped '/' or '@' in a password still parses.
    size_t at = rest.rfind('@');
    if (at != std::string_view::npos) {
        std::string_view userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        size_t colon = userinfo.find(':');
        if (colon == std::string_view::npos)
            return fail(why, "credentials must be written user:password@ or :password@ (no ':' before '@')");
        if (!percent_decode(userinfo.substr(0, colon), u.user) ||
            !percent_decode(userinfo.substr(colon + 1), u.password))
            return fail(why, "broken percent-escape in the credentials");
        if (u.password.empty()) return fail(why, "empty password after ':'");
    }
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    std::string_view port_text;
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos) return fail(why, "unterminated IPv6 address");
        u.host = std::string(authority.substr(1, close - 1));
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') return fail(why, "unexpected text after the IPv6 address");
            port_text = authority.substr(close + 2);
            if (port_text.empty()) return fail(why, "empty port after ':'");
        }
    } else {
        size_t colon = authority.rfind(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text.empty()) return fail(why, "empty port after ':'");
        }
    }
    if (u.host.empty()) return fail(why, "missing host");
    if (!port_text.empty()) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
        if (ec != std::errc{} || p != port_text.data() + port_text.size() || v == 0 || v > 65535)
            return fail(why, "invalid port '" + std::string(port_text) + "' (1-65535)");
        u.port = static_cast<std::uint16_t>(v);
    }
    if (path.size() > 1) {
        if (!parse_db(path.substr(1), u.db))
            return fail(why, "invalid db '" + std::string(path.substr(1)) + "' in the path (a number >= 0)");
    }
    return u;
}

}  // namespace

std::optional<redis_url> parse_redis_url(const std::string& text, std::string& why) {
    std::string_view t = text;
    if (t.rfind("redis://", 0) == 0) return parse_tcp(t.substr(8), why);
    if (t.rfind("unix://", 0) == 0) return parse_unix(t.substr(7), why);
    if (t.rfind("rediss://", 0) == 0)
        return fail(why, "rediss:// (TLS) is not supported; use redis:// on a trusted network or a unix:// socket");
    return fail(why, "must start with redis:// or unix:// (got '" + text.substr(0, 16) + "')");
}

std::string display_url(const redis_url& u) {
    std::string auth;
    if (!u.password.empty()) auth = u.user + ":***@";
    if (u.unix_socket) {
        std::string s = "unix://" + u.path;
        char sep = '?';
        auto param = [&](const std::string& p) {
            s += sep + p;
            sep = '&';
        };
        if (!u.user.empty()) param("user=" + u.user);
        if (!u.password.empty()) param("password=***");
        if (u.db != 0) param("db=" + std::to_string(u.db));
        return s;
    }
    bool v6 = u.host.find(':') != std::string::npos;
    std::string host = v6 ? "[" + u.host + "]" : u.host;
    return "redis://" + auth + host + ":" + std::to_string(u.port) + "/" + std::to_string(u.db);
}

}  // namespace swapgate::redis
