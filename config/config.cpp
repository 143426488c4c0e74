#include "config/config.hpp"

#include "config/cache_config.hpp"
#include "config/serving.hpp"
#include "config/url.hpp"
#include "config/yaml_reader.hpp"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace swapgate::config {
namespace {

void read_timeouts(yaml_reader& r, const YAML::Node& n, const std::string& path, timeout_settings& t) {
    if (!n) return;
    if (!n.IsMap()) return r.error(path, "expected a map of connect, first_byte, idle, total");
    r.check_keys(n, path, {"connect", "first_byte", "idle", "total"});
    r.read_duration(n["connect"], child_path(path, "connect"), t.connect);
    r.read_duration(n["first_byte"], child_path(path, "first_byte"), t.first_byte);
    r.read_duration(n["idle"], child_path(path, "idle"), t.idle);
    r.read_duration(n["total"], child_path(path, "total"), t.total);
    for (auto [name, d] : {std::pair{"connect", t.connect}, {"first_byte", t.first_byte}, {"idle", t.idle},
                           {"total", t.total}})
        if (d.count() <= 0) r.error(child_path(path, name), "must be greater than zero");
}

// Returns false when the backend is switched off by `requires_env`.
bool read_backend(yaml_reader& r, const env_lookup& env, const YAML::Node& n, const std::string& path,
                  backend& b, std::vector<std::string>& notes) {
    if (!n.IsMap()) {
        r.error(path, "expected a map with at least 'url'");
        return true;
    }
    r.check_keys(n, path,
                 {"url", "api_key", "ca_file", "tls_verify", "timeouts", "max_idle_connections", "keepalive_idle",
                  "max_response_size", "headers", "requires_env"});
    if (n["requires_env"]) {
        std::string var;
        r.read_string(n["requires_env"], child_path(path, "requires_env"), var);
        auto v = env(var);
        if (!v || v->empty()) {
            notes.push_back("backend '" + b.name + "' is off: " + var + " is not set");
            return false;
        }
    }
    if (!n["url"]) r.error(child_path(path, "url"), "required (e.g. http://127.0.0.1:8080/v1)");
    else if (r.read_string(n["url"], child_path(path, "url"), b.url)) {
        std::string why;
        if (!parse_url(b.url, why)) r.error(child_path(path, "url"), "'" + b.url + "' " + why);
    }
    r.read_string(n["api_key"], child_path(path, "api_key"), b.api_key);
    r.read_string(n["ca_file"], child_path(path, "ca_file"), b.ca_file);
    r.read_bool(n["tls_verify"], child_path(path, "tls_verify"), b.tls_verify);
    read_timeouts(r, n["timeouts"], child_path(path, "timeouts"), b.timeouts);
    long long idle = b.max_idle_connections;
    if (r.read_int(n["max_idle_connections"], child_path(path, "max_idle_connections"), 0, 100000, idle))
        b.max_idle_connections = static_cast<int>(idle);
    r.read_duration(n["keepalive_idle"], child_path(path, "keepalive_idle"), b.keepalive_idle);
    r.read_size(n["max_response_size"], child_path(path, "max_response_size"), b.max_response_bytes);
    if (auto h = n["headers"]) {
        std::string hp = child_path(path, "headers");
        if (!h.IsMap()) r.error(hp, "expected a map of header name to value");
        else
            for (const auto& kv : h) {
                std::string name = kv.first.Scalar(), value;
                if (r.read_string(kv.second, child_path(hp, name), value)) b.headers[name] = value;
            }
    }
    return true;
}

void read_model(yaml_reader& r, const YAML::Node& n, const std::string& path, model& m) {
    if (!n.IsMap()) return r.error(path, "expected a map with 'name' and 'backend'");
    std::vector<const char*> keys{"name", "aliases", "backend", "upstream_model", "tier", "cache"};
    keys.insert(keys.end(), serving_keys.begin(), serving_keys.end());
    keys.insert(keys.end(), routing_model_keys.begin(), routing_model_keys.end());
    r.check_keys(n, path, keys);
    if (!n["name"]) r.error(child_path(path, "name"), "required");
    r.read_string(n["name"], child_path(path, "name"), m.name);
    r.read_string_list(n["aliases"], child_path(path, "aliases"), m.aliases);
    read_serving(r, n, path, m);
    read_model_cache(r, n["cache"], child_path(path, "cache"), m);
    if (m.serving.driver == driver_kind::process) read_timeouts(r, n["timeouts"], child_path(path, "timeouts"), m.serving.timeouts);
    if (!n["backend"] && m.serving.driver == driver_kind::none) r.error(child_path(path, "backend"), "required");
    r.read_string(n["backend"], child_path(path, "backend"), m.backend);
    r.read_string(n["upstream_model"], child_path(path, "upstream_model"), m.upstream_model);
    r.read_string(n["tier"], child_path(path, "tier"), m.tier);
    if (m.upstream_model.empty()) m.upstream_model = m.name;
}

std::string known_list(const std::map<std::string, backend>& backends) {
    std::string s;
    for (const auto& [name, _] : backends) s += (s.empty() ? "" : ", ") + name;
    return s.empty() ? "none" : s;
}

}  // namespace

env_lookup process_env() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (!v) return std::nullopt;
        return std::string(v);
    };
}

bool parse_listen(const std::string& text, std::string& host, std::uint16_t& port) {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) return false;
    std::string h = text.substr(0, colon), p = text.substr(colon + 1);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (h.empty()) h = "127.0.0.1";
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || v > 65535) return false;
    host = h;
    port = static_cast<std::uint16_t>(v);
    return true;
}

load_result load_string(const std::string& yaml_text, const env_lookup& env) {
    load_result out;
    YAML::Node root;
    try {
        root = YAML::Load(yaml_text);
    } catch (const YAML::Exception& e) {
        out.errors.push_back("line " + std::to_string(e.mark.line + 1) + ", column " +
                             std::to_string(e.mark.column + 1) + ": " + e.msg);
        return out;
    }
    config c;
    yaml_reader r(env, out.errors);
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) {
        r.error("", "the configuration must be a map (listen, backends, models, ...)");
        return out;
    }
    r.check_keys(root, "", {"listen", "threads", "limits", "auth", "log", "backends", "models", "devices", "scheduler", "cache", "routing"});

    if (root["listen"]) {
        std::string listen;
        if (r.read_string(root["listen"], "listen", listen) && !parse_listen(listen, c.listen_host, c.listen_port))
            r.error("listen", "expected HOST:PORT like 127.0.0.1:8000, got '" + listen + "'");
    }
    long long threads = 0;
    if (r.read_int(root["threads"], "threads", 0, 256, threads)) c.threads = static_cast<int>(threads);

    if (auto l = root["limits"]) {
        r.check_keys(l, "limits",
                     {"max_header_size", "max_body_size", "request_read_timeout", "idle_timeout", "write_timeout",
                      "shutdown_grace", "max_connections"});
        r.read_size(l["max_header_size"], "limits.max_header_size", c.limits.max_header_bytes);
        r.read_size(l["max_body_size"], "limits.max_body_size", c.limits.max_body_bytes);
        r.read_duration(l["request_read_timeout"], "limits.request_read_timeout", c.limits.request_read_timeout);
        r.read_duration(l["idle_timeout"], "limits.idle_timeout", c.limits.idle_timeout);
        r.read_duration(l["write_timeout"], "limits.write_timeout", c.limits.write_timeout);
        r.read_duration(l["shutdown_grace"], "limits.shutdown_grace", c.limits.shutdown_grace);
        long long mc = c.limits.max_connections;
        if (r.read_int(l["max_connections"], "limits.max_connections", 1, 1000000, mc))
            c.limits.max_connections = static_cast<int>(mc);
        if (c.limits.max_header_bytes < 1024) r.error("limits.max_header_size", "must be at least 1KiB");
    }
    if (auto a = root["auth"]) {
        r.check_keys(a, "auth", {"api_keys", "admin_keys"});
        r.read_string_list(a["api_keys"], "auth.api_keys", c.auth.api_keys);
        r.read_string_list(a["admin_keys"], "auth.admin_keys", c.auth.admin_keys);
        for (size_t i = 0; i < c.auth.admin_keys.size(); ++i)
            if (c.auth.admin_keys[i].empty()) r.error(index_path("auth.admin_keys", i), "an admin key cannot be empty");
        for (size_t i = 0; i < c.auth.api_keys.size(); ++i)
            if (c.auth.api_keys[i].empty()) r.error(index_path("auth.api_keys", i), "an API key cannot be empty");
    }
    if (auto lg = root["log"]) {
        r.check_keys(lg, "log", {"requests"});
        r.read_bool(lg["requests"], "log.requests", c.log.requests);
    }

    std::set<std::string> disabled_backends;
    if (auto bs = root["backends"]) {
        if (!bs.IsMap()) r.error("backends", "expected a map of backend name to {url: ...}");
        else
            for (const auto& kv : bs) {
                backend b;
                b.name = kv.first.Scalar();
                std::string path = child_path("backends", b.name);
                if (read_backend(r, env, kv.second, path, b, c.notes)) c.backends.emplace(b.name, std::move(b));
                else disabled_backends.insert(kv.first.Scalar());
            }
    }

    read_devices(r, root["devices"], c);
    read_scheduler(r, root["scheduler"], c);
    read_cache_section(r, root["cache"], c);

    std::map<std::string, std::string> names;  // public name or alias -> where it was defined
    std::vector<std::string> model_paths;
    if (auto ms = root["models"]) {
        if (!ms.IsSequence()) r.error("models", "expected a list of models");
        else
            for (size_t i = 0; i < ms.size(); ++i) {
                model m;
                std::string path = index_path("models", i);
                read_model(r, ms[i], path, m);
                if (disabled_backends.count(m.backend)) {
                    c.notes.push_back("model '" + m.name + "' is off: its backend '" + m.backend + "' is off");
                    continue;
                }
                if (!m.backend.empty() && !c.backends.count(m.backend))
                    r.error(child_path(path, "backend"),
                            "unknown backend '" + m.backend + "' (known: " + known_list(c.backends) + ")");
                auto claim = [&](const std::string& id, const std::string& where) {
                    if (id.empty()) return r.error(where, "a model name cannot be empty");
                    auto [it, fresh] = names.emplace(id, where);
                    if (!fresh) r.error(where, "'" + id + "' is already used at " + it->second);
                };
                if (!m.name.empty()) claim(m.name, child_path(path, "name"));
                for (size_t a = 0; a < m.aliases.size(); ++a)
                    claim(m.aliases[a], index_path(child_path(path, "aliases"), a));
                c.models.push_back(std::move(m));
                model_paths.push_back(path);
            }
    }
    finish_serving(r, env, c, model_paths);
    finish_cache(r, c, model_paths);
    read_routing(r, env, root["routing"], root["models"], c);
    if (out.errors.empty()) out.cfg = std::move(c);
    return out;
}

load_result load_file(const std::string& path, const env_lookup& env) {
    std::ifstream in(path);
    if (!in) {
        load_result out;
        out.errors.push_back(path + ": cannot read the file");
        return out;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return load_string(ss.str(), env);
}

}  // namespace swapgate::config
