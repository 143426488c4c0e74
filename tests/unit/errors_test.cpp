#include "proxy/errors.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace swapgate::proxy {
namespace {

using json = nlohmann::json;

TEST(Errors, BodyHasTheOpenAiShapeWithNulls) {
    auto j = json::parse(error_body(api_error{500, "boom", "server_error", "", ""}));
    ASSERT_TRUE(j["error"].is_object());
    EXPECT_EQ(j["error"]["message"], "boom");
    EXPECT_EQ(j["error"]["type"], "server_error");
    EXPECT_TRUE(j["error"]["param"].is_null());
    EXPECT_TRUE(j["error"]["code"].is_null());
    EXPECT_EQ(j["error"].size(), 4u);
}

TEST(Errors, StatusAndCodesOfEachKind) {
    struct want {
        api_error e;
        int status;
        const char* code;
    };
    for (const auto& w : {want{invalid_request("x", "messages"), 400, "invalid_value"},
                          want{model_not_found("m"), 404, "model_not_found"},
                          want{invalid_api_key(), 401, "invalid_api_key"},
                          want{not_found("GET", "/x"), 404, "unknown_url"},
                          want{method_not_allowed("GET", "/x"), 405, "method_not_allowed"},
                          want{too_large("body", 10), 413, "request_too_large"},
                          want{headers_too_large(10), 431, "headers_too_large"},
                          want{request_timeout(), 408, "request_timeout"},
                          want{upstream_unreachable("b", "refused"), 502, "upstream_unreachable"},
                          want{upstream_timeout("b", "slow"), 504, "upstream_timeout"},
                          want{upstream_bad_response("b", "junk"), 502, "upstream_bad_response"}}) {
        EXPECT_EQ(w.e.status, w.status) << w.code;
        EXPECT_EQ(w.e.code, w.code);
        auto j = json::parse(error_body(w.e));
        EXPECT_EQ(j["error"]["code"], w.code);
    }
    EXPECT_EQ(model_not_found("m").param, "model");
}

TEST(Errors, MessagesNameTheBackend) {
    EXPECT_NE(upstream_unreachable("ollama", "connection refused").message.find("'ollama'"), std::string::npos);
    EXPECT_NE(upstream_timeout("vllm", "no headers").message.find("no headers"), std::string::npos);
}

TEST(Errors, InvalidUtf8IsReplacedNotThrown) {
    std::string bad = "model \xff\xfe";
    auto body = error_body(model_not_found(bad));
    EXPECT_FALSE(json::parse(body, nullptr, false).is_discarded());
}

}  // namespace
}  // namespace swapgate::proxy
