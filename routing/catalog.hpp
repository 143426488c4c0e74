// The model catalog: which public names and aliases exist and which backend
// serves each. Pure and immutable; built from one config snapshot.
#pragma once
#include "config/config.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace swapgate::routing {

// Where a request for one public name goes.
struct route {
    const config::model* model = nullptr;      // the model the name resolved to
    const config::backend* backend = nullptr;  // the backend serving it
};

// One entry of GET /v1/models.
struct listing_entry {
    std::string id;
    std::string owned_by;  // the backend name
    std::string alias_of;  // empty for a model's own name
    std::string tier;
};

class catalog {
public:
    explicit catalog(std::shared_ptr<const config::config> cfg);

    // Exact match on a name or an alias; nullopt when unknown.
    std::optional<route> resolve(std::string_view name) const;
    // Names first, each followed by its aliases, in config order.
    const std::vector<listing_entry>& listing() const { return listing_; }
    const config::config& cfg() const { return *cfg_; }

private:
    std::shared_ptr<const config::config> cfg_;
    std::unordered_map<std::string, route> by_name_;
    std::vector<listing_entry> listing_;
};

}  // namespace swapgate::routing
