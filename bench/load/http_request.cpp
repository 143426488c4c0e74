#include "bench/load/http_request.hpp"

namespace swapgate::bench {

request_writer::request_writer(const target_url& t, const options& o) {
    const bool v6 = t.host.find(':') != std::string::npos;
    std::string host = v6 ? "[" + t.host + "]" : t.host;
    if (t.port != "80") host += ":" + t.port;
    for (auto ep : {endpoint::chat, endpoint::completions, endpoint::embeddings}) {
        std::string& h = heads_[static_cast<std::size_t>(ep)];
        h = "POST " + t.base_path + std::string(endpoint_path(ep)) + " HTTP/1.1\r\n";
        h += "Host: " + host + "\r\n";
        h += "User-Agent: swapgate-bench/1\r\n";
        h += "Content-Type: application/json\r\n";
        if (!o.api_key.empty()) h += "Authorization: Bearer " + o.api_key + "\r\n";
        for (const auto& [name, value] : o.headers) h += name + ": " + value + "\r\n";
        h += "Content-Length: ";
    }
}

void request_writer::write(const request_spec& spec, std::string& out) const {
    out.clear();
    out.reserve(heads_[0].size() + spec.body.size() + 64);
    out += heads_[static_cast<std::size_t>(spec.ep)];
    out += std::to_string(spec.body.size());
    out += spec.stream ? "\r\nAccept: text/event-stream\r\n\r\n" : "\r\nAccept: application/json\r\n\r\n";
    out += spec.body;
}

}  // namespace swapgate::bench
