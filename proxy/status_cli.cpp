#include "proxy/status_cli.hpp"

#include "config/url.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace swapgate::proxy {

namespace {

using json = nlohmann::json;

// GET `path` over plain HTTP/1.1 with Connection: close; the status and body.
bool http_get(const config::url& u, const std::string& path, const std::string& key, int& status, std::string& body,
              std::string& error) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (int rc = getaddrinfo(u.host.c_str(), std::to_string(u.port).c_str(), &hints, &res); rc != 0) {
        error = "cannot resolve " + u.host + ": " + gai_strerror(rc);
        return false;
    }
    int fd = -1;
    for (auto* a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        timeval tv{10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error = "cannot connect to " + u.host_header + " (is swapgate running there?)";
        return false;
    }
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + u.host_header + "\r\nConnection: close\r\n";
    if (!key.empty()) req += "Authorization: Bearer " + key + "\r\n";
    req += "\r\n";
    if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
        close(fd);
        error = "write failed";
        return false;
    }
    std::string resp;
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
    close(fd);
    auto head_end = resp.find("\r\n\r\n");
    if (resp.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos) {
        error = "not an HTTP response from " + u.host_header;
        return false;
    }
    status = std::atoi(resp.c_str() + 9);
    std::string head = resp.substr(0, head_end);
    body = resp.substr(head_end + 4);
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (head.find("transfer-encoding: chunked") != std::string::npos) {
        std::string out;
        size_t at = 0;
        while (at < body.size()) {
            size_t eol = body.find("\r\n", at);
            if (eol == std::string::npos) break;
            size_t len = std::strtoul(body.c_str() + at, nullptr, 16);
            if (len == 0) break;
            out += body.substr(eol + 2, len);
            at = eol + 2 + len + 2;
        }
        body = out;
    }
    return true;
}

std::string pad(std::string s, size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s + "  ";
}

std::string secs(double ms) {
    char b[32];
    if (ms < 0) return "-";
    if (ms < 1000) std::snprintf(b, sizeof b, "%.0f ms", ms);
    else if (ms < 120000) std::snprintf(b, sizeof b, "%.1f s", ms / 1000);
    else std::snprintf(b, sizeof b, "%.0f min", ms / 60000);
    return b;
}

}  // namespace

std::string format_status(const std::string& text, std::string& error) {
    auto j = json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("models")) {
        error = "unexpected answer: " + text.substr(0, 200);
        return {};
    }
    std::vector<std::vector<std::string>> rows{
        {"MODEL", "DRIVER", "STATE", "DEVICE", "MEMORY", "RUNNING", "QUEUED", "LOADS", "MEAN LOAD", "IDLE", "NOTE"}};
    for (const auto& m : j["models"]) {
        auto s = [&](const char* k) { return m.contains(k) && m[k].is_string() ? m[k].get<std::string>() : std::string(); };
        auto n = [&](const char* k) -> std::string {
            return m.contains(k) && m[k].is_number() ? std::to_string(m[k].get<long long>()) : std::string("-");
        };
        std::string mem = "-";
        if (m.contains("memory_mb")) {
            mem = n("memory_mb") + " MB";
            if (m.contains("memory_observed_mb") && m["memory_observed_mb"].is_number()) mem += " (seen)";
        }
        std::string note = s("last_error");
        if (note.empty()) note = s("eviction_reason");
        if (m.value("pinned", false)) note = "pinned" + (note.empty() ? "" : "; " + note);
        if (note.size() > 60) note = note.substr(0, 57) + "...";
        double mean = m.contains("mean_load_ms") && m["mean_load_ms"].is_number() && m.value("load_count", 0) > 0
                          ? m["mean_load_ms"].get<double>()
                          : -1;
        double idle = m.contains("idle_ms") && m["idle_ms"].is_number() ? m["idle_ms"].get<double>() : -1;
        rows.push_back({s("name"), s("driver"), s("state"), s("device").empty() ? "-" : s("device"), mem,
                        n("in_flight"), n("queued"), n("load_count"), secs(mean), secs(idle), note});
    }
    std::vector<size_t> w(rows[0].size(), 0);
    for (const auto& r : rows)
        for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (size_t i = 0; i < r.size(); ++i) line += i + 1 < r.size() ? pad(r[i], w[i]) : r[i];
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    if (j.contains("devices") && !j["devices"].empty()) {
        out += "\n";
        for (const auto& d : j["devices"]) {
            long long res = d.value("resident_mb", 0LL), bud = d.value("budget_mb", 0LL);
            out += "device " + d.value("name", std::string("?")) + ": " + std::to_string(res) + " / " +
                   std::to_string(bud) + " MB resident";
            out += bud > 0 ? " (" + std::to_string(res * 100 / bud) + "%)\n" : "\n";
        }
    }
    if (j.contains("policy")) out += "policy: " + j["policy"].get<std::string>() + "\n";
    return out;
}

int print_status(const status_options& opts) {
    std::string why;
    auto u = config::parse_url(opts.url, why);
    if (!u) {
        std::cerr << "swapgate status: --url: '" << opts.url << "' " << why << "\n";
        return 2;
    }
    if (u->tls) {
        std::cerr << "swapgate status: https is not supported here; ask the local swapgate over http\n";
        return 2;
    }
    int status = 0;
    std::string body, error;
    if (!http_get(*u, "/admin/models", opts.admin_key, status, body, error)) {
        std::cerr << "swapgate status: " << error << "\n";
        return 1;
    }
    if (status != 200) {
        std::cerr << "swapgate status: HTTP " << status << ": " << body << "\n";
        return 1;
    }
    if (opts.json) {
        std::cout << body << "\n";
        return 0;
    }
    std::string table = format_status(body, error);
    if (table.empty()) {
        std::cerr << "swapgate status: " << error << "\n";
        return 1;
    }
    std::cout << table;
    return 0;
}

}  // namespace swapgate::proxy
