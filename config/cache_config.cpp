#include "config/cache_config.hpp"

namespace swapgate::config {

void read_cache_section(yaml_reader& r, const YAML::Node& n, config& c) {
    if (!n || n.IsNull()) return;  // `cache:` alone: the defaults
    if (!n.IsMap()) return r.error("cache", "expected a map (redis, memory, ...)");
    r.check_keys(n, "cache",
                 {"redis", "memory", "redis_timeout", "redis_connect_timeout", "redis_pool", "key_prefix", "tenants",
                  "embed_timeout", "stream_maxlen", "semantic_memory", "test_hooks"});
    auto& s = c.cache;
    r.read_string(n["redis"], "cache.redis", s.redis_url);
    if (!s.redis_url.empty() && s.redis_url.rfind("redis://", 0) != 0 && s.redis_url.rfind("unix://", 0) != 0)
        r.error("cache.redis", "expected redis://[:password@]host:port[/db] or unix:///path, got '" + s.redis_url + "'");
    r.read_size(n["memory"], "cache.memory", s.memory_bytes);
    r.read_duration(n["redis_timeout"], "cache.redis_timeout", s.redis_timeout);
    if (s.redis_timeout.count() <= 0) r.error("cache.redis_timeout", "must be greater than zero");
    r.read_duration(n["redis_connect_timeout"], "cache.redis_connect_timeout", s.redis_connect_timeout);
    long long pool = s.redis_pool;
    if (r.read_int(n["redis_pool"], "cache.redis_pool", 1, 64, pool)) s.redis_pool = static_cast<int>(pool);
    r.read_string(n["key_prefix"], "cache.key_prefix", s.key_prefix);
    if (auto t = n["tenants"]) {
        if (!t.IsMap()) r.error("cache.tenants", "expected a map of API key to tenant name");
        else
            for (const auto& kv : t) {
                std::string key, tenant;
                if (!r.interpolate(kv.first.Scalar(), "cache.tenants", key)) continue;
                if (r.read_string(kv.second, "cache.tenants." + kv.first.Scalar(), tenant) && !tenant.empty())
                    s.tenants[key] = tenant;
            }
    }
    r.read_duration(n["embed_timeout"], "cache.embed_timeout", s.embed_timeout);
    r.read_int(n["stream_maxlen"], "cache.stream_maxlen", 100, 100000000, s.stream_maxlen);
    r.read_size(n["semantic_memory"], "cache.semantic_memory", s.semantic_memory_bytes);
    r.read_bool(n["test_hooks"], "cache.test_hooks", s.test_hooks);
}

void read_model_cache(yaml_reader& r, const YAML::Node& n, const std::string& path, model& m) {
    if (!n) return;
    auto& s = m.cache;
    if (n.IsScalar()) {  // cache: off
        r.read_string(n, path, s.mode);
    } else if (!n.IsMap()) {
        return r.error(path, "expected a mode (deterministic, always, off) or a map");
    } else {
        r.check_keys(n, path, {"mode", "ttl", "max_entry_size", "semantic"});
        r.read_string(n["mode"], child_path(path, "mode"), s.mode);
        r.read_duration(n["ttl"], child_path(path, "ttl"), s.ttl);
        if (s.ttl.count() < 1000) r.error(child_path(path, "ttl"), "must be at least 1s");
        r.read_size(n["max_entry_size"], child_path(path, "max_entry_size"), s.max_entry_bytes);
        if (auto sem = n["semantic"]) {
            std::string sp = child_path(path, "semantic");
            if (!sem.IsMap()) {
                r.error(sp, "expected a map with embedding_model");
            } else {
                r.check_keys(sem, sp, {"embedding_model", "threshold", "min_chars", "max_chars", "max_turns", "enabled"});
                s.semantic.enabled = true;
                r.read_bool(sem["enabled"], child_path(sp, "enabled"), s.semantic.enabled);
                r.read_string(sem["embedding_model"], child_path(sp, "embedding_model"), s.semantic.embedding_model);
                if (s.semantic.enabled && s.semantic.embedding_model.empty())
                    r.error(child_path(sp, "embedding_model"), "required: the model that embeds the final user message");
                if (auto t = sem["threshold"]) {
                    try {
                        s.semantic.threshold = t.as<double>();
                    } catch (...) {
                        r.error(child_path(sp, "threshold"), "expected a number between 0 and 1");
                    }
                    if (!(s.semantic.threshold > 0 && s.semantic.threshold <= 1))
                        r.error(child_path(sp, "threshold"), "expected a number in (0, 1]");
                }
                r.read_int(sem["min_chars"], child_path(sp, "min_chars"), 0, 1000000, s.semantic.min_chars);
                r.read_int(sem["max_chars"], child_path(sp, "max_chars"), 1, 10000000, s.semantic.max_chars);
                r.read_int(sem["max_turns"], child_path(sp, "max_turns"), 1, 10000, s.semantic.max_turns);
            }
        }
    }
    if (s.mode != "deterministic" && s.mode != "always" && s.mode != "off")
        r.error(n.IsMap() ? child_path(path, "mode") : path,
                "unknown cache mode '" + s.mode + "' (deterministic, always, off)");
}

void finish_cache(yaml_reader& r, config& c, const std::vector<std::string>& paths) {
    for (size_t i = 0; i < c.models.size(); ++i) {
        const auto& sem = c.models[i].cache.semantic;
        if (!sem.enabled) continue;
        bool found = false;
        for (const auto& m : c.models) {
            found |= m.name == sem.embedding_model;
            for (const auto& a : m.aliases) found |= a == sem.embedding_model;
        }
        if (!found)
            r.error(child_path(child_path(paths[i], "cache"), "semantic.embedding_model"),
                    "unknown model '" + sem.embedding_model + "'");
    }
}

}  // namespace swapgate::config
