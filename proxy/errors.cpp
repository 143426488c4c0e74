#include "proxy/errors.hpp"

#include <nlohmann/json.hpp>

namespace swapgate::proxy {

std::string error_body(const api_error& e) {
    using ojson = nlohmann::ordered_json;  // keep OpenAI's field order
    ojson o;
    o["message"] = e.message;
    o["type"] = e.type;
    o["param"] = e.param.empty() ? ojson(nullptr) : ojson(e.param);
    o["code"] = e.code.empty() ? ojson(nullptr) : ojson(e.code);
    ojson j;
    j["error"] = std::move(o);
    return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

api_error invalid_request(std::string message, std::string param, std::string code) {
    return {400, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
}

api_error model_not_found(const std::string& model) {
    return {404, "The model '" + model + "' does not exist or is not configured in swapgate", "invalid_request_error",
            "model", "model_not_found"};
}

api_error invalid_api_key() {
    return {401, "Incorrect or missing API key. Send 'Authorization: Bearer <key>' with a key from auth.api_keys.",
            "authentication_error", "", "invalid_api_key"};
}

api_error not_found(const std::string& method, const std::string& path) {
    return {404, "Unknown request URL: " + method + " " + path, "invalid_request_error", "", "unknown_url"};
}

api_error method_not_allowed(const std::string& method, const std::string& path) {
    return {405, "Method " + method + " is not allowed on " + path, "invalid_request_error", "", "method_not_allowed"};
}

api_error too_large(const std::string& what, unsigned long long limit_bytes) {
    return {413, what + " is larger than the limit of " + std::to_string(limit_bytes) + " bytes",
            "invalid_request_error", "", "request_too_large"};
}

api_error headers_too_large(unsigned long long limit_bytes) {
    return {431, "Request headers are larger than the limit of " + std::to_string(limit_bytes) + " bytes",
            "invalid_request_error", "", "headers_too_large"};
}

api_error request_timeout() {
    return {408, "The request was not received in time", "invalid_request_error", "", "request_timeout"};
}

api_error upstream_unreachable(const std::string& backend, const std::string& why) {
    return {502, "Backend '" + backend + "' is unreachable: " + why, "upstream_error", "", "upstream_unreachable"};
}

api_error upstream_timeout(const std::string& backend, const std::string& what) {
    return {504, "Backend '" + backend + "' timed out: " + what, "upstream_error", "", "upstream_timeout"};
}

api_error upstream_bad_response(const std::string& backend, const std::string& why) {
    return {502, "Backend '" + backend + "' sent an invalid response: " + why, "upstream_error", "",
            "upstream_bad_response"};
}

api_error shutting_down() {
    return {503, "swapgate is shutting down", "server_error", "", "shutting_down"};
}

api_error overloaded() {
    return {503, "Too many open connections", "server_error", "", "overloaded"};
}

}  // namespace swapgate::proxy
