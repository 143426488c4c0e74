#include "config/serving.hpp"

#include "config/gguf.hpp"

#include <filesystem>
#include <set>

namespace swapgate::config {

const std::initializer_list<const char*> serving_keys = {
    "driver",  "command",     "env",     "health_path",   "load_timeout", "stop_timeout",  "device",
    "memory_mb", "gguf",      "context", "pinned",        "preload",      "slots",         "ttl",
    "max_queue", "queue_timeout", "min_residency", "load_cost", "sleep_level", "timeouts", "watch_interval"};

const char* driver_name(driver_kind d) {
    switch (d) {
        case driver_kind::process: return "process";
        case driver_kind::ollama: return "ollama";
        case driver_kind::vllm_sleep: return "vllm-sleep";
        case driver_kind::static_server: return "static";
        default: return "none";
    }
}

namespace {

bool positive(yaml_reader& r, const std::string& path, duration d, bool zero_ok) {
    if (d.count() > 0 || (zero_ok && d.count() == 0)) return true;
    r.error(path, zero_ok ? "must not be negative" : "must be greater than zero");
    return false;
}

// The command keeps ${PORT}, ${MODEL} and ${NAME} for the driver; every other
// ${VAR} is the environment's, as everywhere in the file.
bool read_command(yaml_reader& r, const YAML::Node& n, const std::string& path, std::string& out) {
    if (!n) return true;
    if (!n.IsScalar()) {
        r.error(path, "expected a command line (a string)");
        return false;
    }
    std::string raw = n.Scalar();
    for (const char* v : {"${PORT}", "${MODEL}", "${NAME}"})
        for (size_t at = raw.find(v); at != std::string::npos; at = raw.find(v, at + 2)) raw.insert(at, "$");
    return r.interpolate(raw, path, out);
}

}  // namespace

void read_serving(yaml_reader& r, const YAML::Node& n, const std::string& path, model& m) {
    auto& s = m.serving;
    if (auto d = n["driver"]) {
        std::string v;
        r.read_string(d, child_path(path, "driver"), v);
        if (v == "process") s.driver = driver_kind::process;
        else if (v == "ollama") s.driver = driver_kind::ollama;
        else if (v == "vllm-sleep" || v == "vllm_sleep") s.driver = driver_kind::vllm_sleep;
        else if (v == "static") s.driver = driver_kind::static_server;
        else if (v == "none" || v.empty()) s.driver = driver_kind::none;
        else r.error(child_path(path, "driver"), "unknown driver '" + v + "' (process, ollama, vllm-sleep, static, none)");
    }
    bool any = false;
    for (const char* k : serving_keys) any |= static_cast<bool>(n[k]) && std::string(k) != "driver";
    if (!m.managed()) {
        if (any) r.error(child_path(path, "driver"), "required with residency keys (process, ollama, vllm-sleep or static)");
        return;
    }
    read_command(r, n["command"], child_path(path, "command"), s.command);
    if (auto e = n["env"]) {
        std::string ep = child_path(path, "env");
        if (!e.IsMap()) r.error(ep, "expected a map of variable to value");
        else
            for (const auto& kv : e) {
                std::string v;
                if (r.read_string(kv.second, child_path(ep, kv.first.Scalar()), v)) s.env[kv.first.Scalar()] = v;
            }
    }
    r.read_string(n["health_path"], child_path(path, "health_path"), s.health_path);
    if (s.health_path.empty() || s.health_path[0] != '/')
        r.error(child_path(path, "health_path"), "must start with '/'");
    if (r.read_duration(n["load_timeout"], child_path(path, "load_timeout"), s.load_timeout))
        positive(r, child_path(path, "load_timeout"), s.load_timeout, false);
    if (r.read_duration(n["stop_timeout"], child_path(path, "stop_timeout"), s.stop_timeout))
        positive(r, child_path(path, "stop_timeout"), s.stop_timeout, false);
    r.read_duration(n["watch_interval"], child_path(path, "watch_interval"), s.watch_interval);
    r.read_string(n["device"], child_path(path, "device"), s.device);
    r.read_int(n["memory_mb"], child_path(path, "memory_mb"), 0, 1ll << 30, s.memory_mb);
    r.read_string(n["gguf"], child_path(path, "gguf"), s.gguf);
    r.read_int(n["context"], child_path(path, "context"), 1, 1ll << 24, s.context);
    r.read_bool(n["pinned"], child_path(path, "pinned"), s.pinned);
    r.read_bool(n["preload"], child_path(path, "preload"), s.preload);
    long long v = s.slots;
    if (r.read_int(n["slots"], child_path(path, "slots"), 1, 4096, v)) s.slots = static_cast<int>(v);
    if (r.read_duration(n["ttl"], child_path(path, "ttl"), s.ttl)) positive(r, child_path(path, "ttl"), s.ttl, true);
    v = s.max_queue;
    if (r.read_int(n["max_queue"], child_path(path, "max_queue"), 1, 1000000, v)) s.max_queue = static_cast<int>(v);
    if (r.read_duration(n["queue_timeout"], child_path(path, "queue_timeout"), s.queue_timeout))
        positive(r, child_path(path, "queue_timeout"), s.queue_timeout, false);
    if (n["min_residency"]) {
        duration d{0};
        if (r.read_duration(n["min_residency"], child_path(path, "min_residency"), d)) s.min_residency = d;
    }
    if (r.read_duration(n["load_cost"], child_path(path, "load_cost"), s.initial_load_cost))
        positive(r, child_path(path, "load_cost"), s.initial_load_cost, false);
    v = s.sleep_level;
    if (r.read_int(n["sleep_level"], child_path(path, "sleep_level"), 1, 2, v)) s.sleep_level = static_cast<int>(v);

    const std::string dp = child_path(path, "driver");
    switch (s.driver) {
        case driver_kind::process:
            if (s.command.empty()) r.error(child_path(path, "command"), "required for driver 'process' (e.g. llama-server -m model.gguf --port ${PORT})");
            if (n["backend"]) r.error(child_path(path, "backend"), "a 'process' model runs its own server; remove 'backend'");
            break;
        case driver_kind::ollama:
        case driver_kind::static_server:
            if (n["command"]) r.error(child_path(path, "command"), std::string("not used by driver '") + driver_name(s.driver) + "'");
            [[fallthrough]];
        case driver_kind::vllm_sleep:
            if (!n["backend"]) r.error(child_path(path, "backend"), std::string("required for driver '") + driver_name(s.driver) + "'");
            break;
        default: break;
    }
    if (n["timeouts"] && s.driver != driver_kind::process)
        r.error(child_path(path, "timeouts"), "only for 'process' models; set timeouts on the backend");
}

void read_devices(yaml_reader& r, const YAML::Node& n, config& c) {
    if (!n) return;
    if (!n.IsMap()) return r.error("devices", "expected a map of device name to {budget_mb: N}");
    for (const auto& kv : n) {
        device d;
        d.name = kv.first.Scalar();
        std::string path = child_path("devices", d.name);
        const auto& v = kv.second;
        if (!v.IsMap()) {
            r.error(path, "expected a map with budget_mb");
            continue;
        }
        r.check_keys(v, path, {"budget_mb", "max_loaded"});
        if (!v["budget_mb"]) r.error(child_path(path, "budget_mb"), "required (MB of VRAM, or of RAM for cpu)");
        r.read_int(v["budget_mb"], child_path(path, "budget_mb"), 1, 1ll << 30, d.budget_mb);
        long long ml = d.max_loaded;
        if (r.read_int(v["max_loaded"], child_path(path, "max_loaded"), 1, 1024, ml)) d.max_loaded = static_cast<int>(ml);
        c.devices.push_back(std::move(d));
    }
}

void read_scheduler(yaml_reader& r, const YAML::Node& n, config& c) {
    if (!n) return;
    if (!n.IsMap()) return r.error("scheduler", "expected a map (policy, window, max_wait, drain_timeout, max_loaded)");
    r.check_keys(n, "scheduler", {"policy", "window", "max_wait", "drain_timeout", "max_loaded"});
    auto& s = c.scheduler;
    r.read_string(n["policy"], "scheduler.policy", s.policy);
    if (s.policy != "value" && s.policy != "fifo" && s.policy != "lru")
        r.error("scheduler.policy", "unknown policy '" + s.policy + "' (value, fifo, lru)");
    if (r.read_duration(n["window"], "scheduler.window", s.window)) positive(r, "scheduler.window", s.window, true);
    if (n["max_wait"]) {
        duration d{0};
        if (r.read_duration(n["max_wait"], "scheduler.max_wait", d) && positive(r, "scheduler.max_wait", d, false))
            s.max_wait = d;
    }
    if (r.read_duration(n["drain_timeout"], "scheduler.drain_timeout", s.drain_timeout))
        positive(r, "scheduler.drain_timeout", s.drain_timeout, false);
    long long ml = s.max_loaded;
    if (r.read_int(n["max_loaded"], "scheduler.max_loaded", 1, 1024, ml)) s.max_loaded = static_cast<int>(ml);
}

void finish_serving(yaml_reader& r, const env_lookup& env, config& c, const std::vector<std::string>& paths) {
    bool any_managed = false;
    for (const auto& m : c.models) any_managed |= m.managed();
    if (any_managed && c.devices.empty())
        r.error("devices", "required when a model has a driver, e.g. devices: {gpu0: {budget_mb: 12000}}");

    std::set<std::string> preload;
    if (auto p = env("PRELOAD_MODELS")) {
        std::string list = *p;
        size_t at = 0;
        while (at <= list.size()) {
            size_t comma = list.find(',', at);
            if (comma == std::string::npos) comma = list.size();
            std::string name = list.substr(at, comma - at);
            while (!name.empty() && name.front() == ' ') name.erase(name.begin());
            while (!name.empty() && name.back() == ' ') name.pop_back();
            if (!name.empty()) preload.insert(name);
            at = comma + 1;
        }
    }

    for (size_t i = 0; i < c.models.size(); ++i) {
        auto& m = c.models[i];
        const std::string& path = paths[i];
        if (preload.erase(m.name)) {
            if (m.managed()) m.serving.preload = true;
            else c.notes.push_back("PRELOAD_MODELS: '" + m.name + "' has no driver; nothing to preload");
        }
        if (!m.managed() || c.devices.empty()) continue;
        auto& s = m.serving;
        if (s.device.empty()) s.device = c.devices.front().name;
        const device* dev = nullptr;
        std::string known;
        for (const auto& d : c.devices) {
            if (d.name == s.device) dev = &d;
            known += (known.empty() ? "" : ", ") + d.name;
        }
        if (!dev) {
            r.error(child_path(path, "device"), "unknown device '" + s.device + "' (known: " + known + ")");
            continue;
        }
        if (s.memory_mb == 0 && !s.gguf.empty()) {
            std::error_code ec;
            auto bytes = std::filesystem::file_size(s.gguf, ec);
            if (ec) {
                r.error(child_path(path, "gguf"), "cannot read '" + s.gguf + "' for the memory estimate: " + ec.message());
                continue;
            }
            std::string why;
            auto shape = read_gguf_shape(s.gguf, why);
            if (!shape) c.notes.push_back("model '" + m.name + "': " + why + "; KV cache estimated as 25% of the weights");
            s.memory_mb = estimate_memory_mb(static_cast<long long>(bytes), shape, s.context);
            c.notes.push_back("model '" + m.name + "': memory estimated at " + std::to_string(s.memory_mb) +
                              " MB from " + s.gguf + " (set memory_mb to override)");
        }
        if (s.memory_mb == 0 && s.driver != driver_kind::static_server)
            r.error(child_path(path, "memory_mb"), "required (MB on its device), or give 'gguf' for an estimate");
        if (s.memory_mb > dev->budget_mb)
            r.error(child_path(path, "memory_mb"), std::to_string(s.memory_mb) + " MB does not fit device '" +
                                                       dev->name + "' (budget_mb " + std::to_string(dev->budget_mb) + ")");
        if (s.driver == driver_kind::process) {
            backend b;
            b.name = m.name;
            b.url = "http://127.0.0.1:1/v1";  // the real port is chosen at each start
            b.managed_process = true;
            b.timeouts = s.timeouts;
            m.backend = b.name;
            if (c.backends.count(b.name))
                r.error(child_path(path, "name"), "a 'process' model cannot share its name with backend '" + b.name + "'");
            else
                c.backends.emplace(b.name, std::move(b));
        }
    }
    for (const auto& name : preload) r.error("PRELOAD_MODELS", "unknown model '" + name + "'");
}

}  // namespace swapgate::config
