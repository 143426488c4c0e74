// Errors swapgate itself produces, in the OpenAI error format
// {"error":{"message","type","param","code"}} with the matching HTTP status.
#pragma once
#include <string>

namespace swapgate::proxy {

struct api_error {
    int status = 500;
    std::string message;
    std::string type;   // invalid_request_error, authentication_error, upstream_error, ...
    std::string param;  // the offending field ("messages[0].role"); empty = null
    std::string code;   // machine-readable: model_not_found, invalid_api_key, ...; empty = null
};

// The JSON body for `e` (strings escaped; invalid UTF-8 replaced).
std::string error_body(const api_error& e);

api_error invalid_request(std::string message, std::string param, std::string code = "invalid_value");
api_error model_not_found(const std::string& model);
api_error invalid_api_key();
api_error not_found(const std::string& method, const std::string& path);
api_error method_not_allowed(const std::string& method, const std::string& path);
api_error too_large(const std::string& what, unsigned long long limit_bytes);
api_error headers_too_large(unsigned long long limit_bytes);
api_error request_timeout();
api_error upstream_unreachable(const std::string& backend, const std::string& why);
api_error upstream_timeout(const std::string& backend, const std::string& what);
api_error upstream_bad_response(const std::string& backend, const std::string& why);
api_error shutting_down();
api_error overloaded();

}  // namespace swapgate::proxy
