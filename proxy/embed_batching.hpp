// Batching of /v1/embeddings (routing/batcher.hpp decides): concurrent requests
// for one model with the same parameters become one upstream call with the
// inputs concatenated, and each caller gets its own slice back, re-indexed,
// with its share of the usage. A lone request is never delayed; while the
// model's calls are busy, requests gather for up to the window.
//
// Limits: a batched call has no fallback chain (a model with `batch` should be
// a local embedding server); a caller that disconnects while waiting still has
// its inputs embedded (the result is dropped).
#pragma once
#include "proxy/net/net.hpp"
#include "routing/batcher.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <string>

namespace swapgate::config {
struct model;
}

namespace swapgate::proxy {

struct proxy_state;

struct embed_answer {
    int status = 0;  // 0: the batch was refused (4xx); send this request on its own
    std::string body;
};

class embed_batching {
public:
    embed_batching(net::asio::io_context& ioc, proxy_state& st);
    ~embed_batching();

    bool enabled_for(const config::model& m) const;
    // `body`: the client's request body (its `model` is replaced here).
    net::awaitable<embed_answer> submit(const config::model& m, std::string body);

    struct member;
    struct group;

private:
    net::asio::io_context& ioc_;
    proxy_state& st_;
    net::any_io_executor strand_;
    std::map<std::string, std::unique_ptr<group>> groups_;  // on strand_
    std::atomic<std::uint64_t> next_id_{1};

    void arrive(std::string key, const config::model* m, std::shared_ptr<member> mem, std::string params);
    void dispatch(group& g);
    void arm(group& g);
    net::awaitable<void> run_batch(group* g, std::vector<std::shared_ptr<member>> batch);
};

}  // namespace swapgate::proxy
