// One hop of a request's chain: admission by the scheduler (managed models),
// the upstream exchange, and relaying its answer to the client (whole bodies,
// or SSE streams event by event with the role-only preamble held back until
// the first committing event). forward.cpp runs the chain around it.
#pragma once
#include "proxy/cache/cache_flow.hpp"
#include "proxy/handler.hpp"

#include <string>

namespace swapgate::proxy {

enum class hop_result { answered, client_gone, failed };

struct hop_ctx {
    proxy_state& st;
    client_conn& conn;
    incoming_request& req;
    endpoint ep;
    request_record& rec;
    cache_context& cc;
    const header_list& route_headers;
    const std::string& client_model;  // the body's `model`, rewritten per hop
    clock::time_point t0;
    std::string trigger;              // why the hop failed
    std::string hop_body;             // this hop's request body (its own defaults and caps)
};

// One model of the chain: admission (managed models), the exchange, the
// breaker's bookkeeping. With `can_fallback`, a failure before anything
// reached the client is returned (trigger in h.trigger) instead of answered.
net::awaitable<hop_result> run_hop(hop_ctx& h, const config::model& m, bool can_fallback, bool other_hop_follows);

}  // namespace swapgate::proxy
