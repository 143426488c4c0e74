#include "bench/sim/model_spec.hpp"

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace swapgate::sim {
namespace {

bool to_int(std::string_view s, int64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

bool to_double(std::string_view s, double& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string check(const model_spec& m) {
    if (m.name.empty()) return "model name is empty";
    if (m.slots < 1) return "slots must be >= 1";
    if (m.dims < 1 || m.dims > 65536) return "dims must be in 1..65536";
    if (m.tps < 0) return "tps must be >= 0";
    if (m.load_ms < 0 || m.ttft_ms < 0 || m.embed_call_ms < 0 || m.embed_item_ms < 0 ||
        m.memory_mb < 0 || m.sleep_ms < 0 || m.wake_ms < 0 || m.reply_tokens < 0)
        return "negative value for model '" + m.name + "'";
    return {};
}

}  // namespace

std::string set_model_key(model_spec& m, std::string_view key, std::string_view value) {
    value = trim(value);
    if (key == "name") {
        m.name = std::string(value);
        return {};
    }
    if (key == "tps") {
        if (!to_double(value, m.tps)) return "bad number for 'tps': " + std::string(value);
        return {};
    }
    if (key == "embed_call_ms" || key == "embed_item_ms") {
        double& out = key == "embed_call_ms" ? m.embed_call_ms : m.embed_item_ms;
        if (!to_double(value, out)) return "bad number for '" + std::string(key) + "': " + std::string(value);
        return {};
    }
    int64_t n = 0;
    if (!to_int(value, n)) return "bad integer for '" + std::string(key) + "': " + std::string(value);
    if (key == "load_ms") m.load_ms = n;
    else if (key == "ttft_ms") m.ttft_ms = n;
    else if (key == "slots") m.slots = static_cast<int>(n);
    else if (key == "memory_mb") m.memory_mb = n;
    else if (key == "dims") m.dims = static_cast<int>(n);
    else if (key == "loaded") m.loaded = n != 0;
    else if (key == "reply_tokens") m.reply_tokens = static_cast<int>(n);
    else if (key == "sleep_ms") m.sleep_ms = n;
    else if (key == "wake_ms") m.wake_ms = n;
    else return "unknown model key '" + std::string(key) + "'";
    return {};
}

parsed<model_spec> parse_model_spec(std::string_view spec) {
    parsed<model_spec> r;
    size_t comma = spec.find(',');
    r.value.name = std::string(trim(spec.substr(0, comma)));
    while (comma != std::string_view::npos) {
        spec.remove_prefix(comma + 1);
        comma = spec.find(',');
        std::string_view item = trim(spec.substr(0, comma));
        if (item.empty()) continue;
        size_t eq = item.find('=');
        if (eq == std::string_view::npos) {
            r.error = "expected key=value in model spec, got '" + std::string(item) + "'";
            return r;
        }
        std::string_view key = trim(item.substr(0, eq));
        if (key == "name") {
            r.error = "the name comes first in a model spec";
            return r;
        }
        if (auto e = set_model_key(r.value, key, item.substr(eq + 1)); !e.empty()) {
            r.error = std::move(e);
            return r;
        }
    }
    r.error = check(r.value);
    return r;
}

bool parse_listen(std::string_view text, std::string& host, uint16_t& port) {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    std::string_view h = text.substr(0, colon);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    int64_t p = 0;
    if (h.empty() || !to_int(text.substr(colon + 1), p) || p < 0 || p > 65535) return false;
    host = std::string(h);
    port = static_cast<uint16_t>(p);
    return true;
}

std::string apply_yaml_config(std::string_view yaml_text, sim_options& opts, const cli_flags& cli_set) {
    YAML::Node root;
    try {
        root = YAML::Load(std::string(yaml_text));
    } catch (const YAML::Exception& e) {
        return std::string("config: ") + e.what();
    }
    if (root.IsNull()) return {};
    if (!root.IsMap()) return "config: top level must be a mapping";
    try {
        for (const auto& kv : root) {
            auto key = kv.first.as<std::string>();
            const YAML::Node& v = kv.second;
            if (key == "listen") {
                if (cli_set.listen) continue;
                if (!parse_listen(v.as<std::string>(), opts.host, opts.port))
                    return "config: listen: expected HOST:PORT";
            } else if (key == "memory_mb") {
                if (!cli_set.memory) opts.memory_mb = v.as<int64_t>();
            } else if (key == "models") {
                if (!v.IsSequence()) return "config: models: expected a list";
                for (size_t i = 0; i < v.size(); ++i) {
                    const YAML::Node& item = v[i];
                    std::string path = "config: models[" + std::to_string(i) + "]";
                    if (!item.IsMap()) return path + ": expected a mapping";
                    model_spec m;
                    m.name.clear();
                    for (const auto& f : item) {
                        auto k = f.first.as<std::string>();
                        if (!f.second.IsScalar()) return path + "." + k + ": expected a scalar";
                        auto val = f.second.as<std::string>();
                        if (k == "loaded" && (val == "true" || val == "false")) val = val == "true" ? "1" : "0";
                        if (auto e = set_model_key(m, k, val); !e.empty()) return path + ": " + e;
                    }
                    if (auto e = check(m); !e.empty()) return path + ": " + e;
                    opts.models.push_back(std::move(m));
                }
            } else {
                return "config: unknown key '" + key + "'";
            }
        }
    } catch (const YAML::Exception& e) {
        return std::string("config: ") + e.what();
    }
    return {};
}

parsed<sim_options> parse_args(const std::vector<std::string>& args) {
    parsed<sim_options> r;
    sim_options& o = r.value;
    cli_flags set;
    std::vector<model_spec> cli_models;
    std::string config_file;
    auto fail = [&](std::string msg) {
        r.error = std::move(msg);
        return r;
    };
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](std::string& out) {
            if (i + 1 >= args.size()) return false;
            out = args[++i];
            return true;
        };
        auto number = [&](int64_t& out) {
            std::string v;
            return value(v) && to_int(v, out);
        };
        std::string v;
        int64_t n = 0;
        if (a == "--listen") {
            if (!value(v) || !parse_listen(v, o.host, o.port)) return fail("--listen: expected HOST:PORT");
            set.listen = true;
        } else if (a == "--model") {
            if (!value(v)) return fail("--model: missing SPEC");
            auto m = parse_model_spec(v);
            if (!m) return fail("--model " + v + ": " + m.error);
            cli_models.push_back(std::move(m.value));
        } else if (a == "--config") {
            if (!value(config_file)) return fail("--config: missing FILE");
        } else if (a == "--memory-mb") {
            if (!number(n) || n < 0) return fail("--memory-mb: expected N >= 0");
            o.memory_mb = n;
            set.memory = true;
        } else if (a == "--threads") {
            if (!number(n) || n < 1 || n > 256) return fail("--threads: expected 1..256");
            o.threads = static_cast<int>(n);
        } else if (a == "--tls-cert") {
            if (!value(o.tls_cert)) return fail("--tls-cert: missing FILE");
        } else if (a == "--tls-key") {
            if (!value(o.tls_key)) return fail("--tls-key: missing FILE");
        } else if (a == "--fail-nth") {
            if (!number(n) || n < 0) return fail("--fail-nth: expected N >= 0");
            o.fail_nth = static_cast<uint64_t>(n);
        } else if (a == "--fail-status") {
            if (!number(n) || n < 100 || n > 599) return fail("--fail-status: expected an HTTP status");
            o.fail_status = static_cast<int>(n);
        } else if (a == "--quiet") {
            o.quiet = true;
        } else {
            return fail("unknown argument '" + a + "'");
        }
    }
    if (o.tls_cert.empty() != o.tls_key.empty()) return fail("--tls-cert and --tls-key go together");
    if (!config_file.empty()) {
        std::ifstream in(config_file);
        if (!in) return fail("--config: cannot read " + config_file);
        std::stringstream ss;
        ss << in.rdbuf();
        if (auto e = apply_yaml_config(ss.str(), o, set); !e.empty()) return fail(e);
    }
    for (auto& m : cli_models) o.models.push_back(std::move(m));
    if (o.models.empty()) o.models.emplace_back();
    std::set<std::string> names;
    for (const auto& m : o.models)
        if (!names.insert(m.name).second) return fail("duplicate model name '" + m.name + "'");
    return r;
}

std::string_view usage() {
    return "usage: swapgate-sim [--listen HOST:PORT] [--model SPEC]... [--config FILE.yaml]\n"
           "                    [--memory-mb N] [--threads N] [--tls-cert FILE --tls-key FILE]\n"
           "                    [--fail-nth N] [--fail-status S] [--quiet]\n"
           "SPEC: name[,key=value...] with keys load_ms ttft_ms tps slots embed_call_ms\n"
           "      embed_item_ms memory_mb dims loaded reply_tokens sleep_ms wake_ms\n"
           "See bench/README.md.\n";
}

}  // namespace swapgate::sim
