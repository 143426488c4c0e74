// `swapgate status`: asks a running swapgate for GET /admin/models and prints
// the residency table. A blocking command-line client (not the proxy).
#pragma once
#include <string>

namespace swapgate::proxy {

struct status_options {
    std::string url = "http://127.0.0.1:8000";  // the swapgate to ask
    std::string admin_key;                      // sent as Bearer when set
    bool json = false;                          // print the raw JSON
};

int print_status(const status_options& opts);

// The table for a /admin/models document (exposed for tests).
std::string format_status(const std::string& json_text, std::string& error);

}  // namespace swapgate::proxy
