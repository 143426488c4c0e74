// Serialises requests as HTTP/1.1 text. The head (request line and fixed headers) is built
// once per target and endpoint; per request only Content-Length and the body are appended.
// No Asio.
#pragma once
#include "bench/load/args.hpp"
#include "bench/load/workload.hpp"

#include <array>
#include <string>

namespace swapgate::bench {

class request_writer {
public:
    request_writer(const target_url& target, const options& o);
    // Replaces `out` with the full request for `spec`.
    void write(const request_spec& spec, std::string& out) const;

private:
    std::array<std::string, 3> heads_;   // indexed by endpoint
};

}  // namespace swapgate::bench
