#include "routing/catalog.hpp"

namespace swapgate::routing {

catalog::catalog(std::shared_ptr<const config::config> cfg) : cfg_(std::move(cfg)) {
    for (const auto& m : cfg_->models) {
        auto b = cfg_->backends.find(m.backend);
        if (b == cfg_->backends.end()) continue;  // validation rejects this; stay safe anyway
        route r{&m, &b->second};
        by_name_.emplace(m.name, r);
        listing_.push_back({m.name, m.backend, "", m.tier});
        for (const auto& a : m.aliases) {
            by_name_.emplace(a, r);
            listing_.push_back({a, m.backend, m.name, m.tier});
        }
    }
}

std::optional<route> catalog::resolve(std::string_view name) const {
    auto it = by_name_.find(std::string(name));
    if (it == by_name_.end()) return std::nullopt;
    return it->second;
}

}  // namespace swapgate::routing
