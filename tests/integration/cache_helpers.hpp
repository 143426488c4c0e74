// Helpers of the response cache integration tests (cache_test.cpp,
// cache_replay_test.cpp, cache_shared_test.cpp): requests with expectations on
// X-Swapgate-Cache and the backend's request count, waits for stores.
#pragma once
#include "cache_fixture.hpp"

namespace swapgate::test::cache {

inline const std::string chat_path = "/v1/chat/completions";
inline const std::string embed_path = "/v1/embeddings";
inline const std::string hdr = "x-swapgate-cache";

// The body of a stream's response as chunked pieces, with the last chunk
// (fixture.hpp's chunked() leaves the stream open).
inline std::string chunked_body(const std::vector<std::string>& pieces) { return chunked(pieces) + "0\r\n\r\n"; }

// The cache's metric lines, for failure messages.
inline std::string cache_metrics(const cache_env& env, int port) {
    std::string out, all = env.metrics(port);
    size_t at = 0;
    while (at < all.size()) {
        size_t eol = all.find('\n', at);
        std::string line = all.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
        at = eol == std::string::npos ? all.size() : eol + 1;
        if (line.rfind("swapgate_cache_", 0) == 0) out += line + "\n";
    }
    return out;
}

// Sends `body`; expects 200 with X-Swapgate-Cache `want` and the sim's request
// count moved by `upstream` (0 for a hit). Returns the response.
inline http_response expect_chat(const cache_env& env, const std::string& body, const std::string& want, long long upstream,
                          const std::map<std::string, std::string>& headers = {}, int port = 0) {
    long long before = env.sim_requests();
    auto r = env.chat(body, headers, port);
    EXPECT_EQ(r.status, 200) << body << "\n" << r.body;
    EXPECT_EQ(r.header(hdr), want) << body << (r.header(hdr) == want ? "" : "\n" + cache_metrics(env, port));
    EXPECT_EQ(env.sim_requests() - before, upstream) << "backend requests for " << body;
    return r;
}

// A miss whose answer must be stored: waits until the entry is in place (see
// cache_env::mark), so the next request can be expected to hit.
inline http_response store(const cache_env& env, const std::string& body, const std::map<std::string, std::string>& headers = {},
                    int port = 0) {
    auto m = env.mark(port);
    auto r = expect_chat(env, body, "miss", 1, headers, port);
    EXPECT_TRUE(env.wait_stored(m, 1, port)) << "the answer was never stored: " << body;
    return r;
}

// Gives the proxy time to judge a recording it got after the client had its
// answer (a wrong store must land before the next request, or the test could
// not see it): waits until `n` were refused as incomplete, at most 2 s. Not an
// assertion: a proxy that does not offer a broken answer at all is fine too.
inline void wait_not_complete(const cache_env& env, const std::string& model, int n) {
    eventually(
        [&] {
            return env.metric("swapgate_cache_stores_total{model=\"" + model + "\",outcome=\"not_complete\"}") >= n;
        },
        2s);
}

// The choices of an answer without what differs between calls.
inline json choices_of(const http_response& r) {
    auto j = body_json(r);
    return j.is_object() && j.contains("choices") ? j["choices"] : json();
}

}  // namespace swapgate::test::cache
