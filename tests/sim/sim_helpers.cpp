#include "sim_helpers.hpp"

namespace swapgate::sim_test {

std::unique_ptr<test::child> start_sim(std::vector<std::string> args) {
    args.insert(args.begin(), {SWAPGATE_SIM_BIN, "--listen", "127.0.0.1:0"});
    args.push_back("--quiet");
    return test::start_server(args);
}

json chat(const std::string& content, json extra) {
    json body = {{"model", "sim"}, {"messages", json::array({{{"role", "user"}, {"content", content}}})}};
    for (auto& [k, v] : extra.items()) body[k] = v;
    return body;
}

reply call(int port, const std::string& method, const std::string& path, const json& body) {
    test::http_client c(port);
    std::map<std::string, std::string> headers;
    std::string text;
    if (!body.is_null()) {
        text = body.is_string() ? body.get<std::string>() : body.dump();
        headers["Content-Type"] = "application/json";
    }
    reply r;
    r.http = c.request(method, path, text, headers);
    r.status = r.http.status;
    r.raw = r.http.body;
    r.body = json::parse(r.raw, nullptr, false);
    if (r.body.is_discarded()) r.body = nullptr;
    return r;
}

std::vector<json> stream(int port, const std::string& path, const json& body, test::http_response* head) {
    test::http_client c(port);
    c.send("POST", path, body.dump(), {{"Content-Type", "application/json"}});
    auto h = c.read_head();
    if (head) *head = h;
    std::vector<json> out;
    for (auto& ev : c.read_sse_events()) {
        if (ev == "[DONE]") out.push_back(ev);
        else out.push_back(json::parse(ev, nullptr, false));
    }
    return out;
}

json stats(int port) { return call(port, "GET", "/sim/stats").body; }

long long ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace swapgate::sim_test
