#include "bench/load/args.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <random>

namespace swapgate::bench {
namespace {

template <class T>
bool parse_number(std::string_view s, T& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if constexpr (std::is_floating_point_v<T>) {
        if (ec == std::errc{} && !std::isfinite(out)) return false;
    }
    return ec == std::errc{} && p == s.data() + s.size();
}

bool valid_header_name(std::string_view n) {
    if (n.empty()) return false;
    for (char c : n) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
        if (!ok) return false;
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Walks argv, handing out flag values ("--flag value" or "--flag=value").
class cursor {
public:
    explicit cursor(const std::vector<std::string>& a) : args_(a) {}
    bool done() const { return i_ >= args_.size(); }
    // Splits the next argument into flag and inline value.
    std::string next_flag() {
        std::string a = args_[i_++];
        inline_.reset();
        if (a.rfind("--", 0) == 0) {
            if (auto eq = a.find('='); eq != std::string::npos) {
                inline_ = a.substr(eq + 1);
                a.resize(eq);
            }
        }
        return a;
    }
    bool has_inline() const { return inline_.has_value(); }
    std::optional<std::string> value() {
        if (inline_) return std::exchange(inline_, std::nullopt);
        if (i_ >= args_.size()) return std::nullopt;
        return args_[i_++];
    }

private:
    const std::vector<std::string>& args_;
    std::size_t i_ = 0;
    std::optional<std::string> inline_;
};

}  // namespace

std::string parse_target_url(std::string_view text, target_url& out) {
    out = target_url{};
    out.text = std::string(text);
    constexpr std::string_view http = "http://";
    if (text.rfind("https://", 0) == 0) return "https URLs are not supported (plain http only)";
    if (text.rfind(http, 0) != 0) return "expected a URL starting with http://";
    std::string_view rest = text.substr(http.size());
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (authority.empty()) return "missing host";
    std::string_view port;
    if (authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return "unterminated IPv6 address";
        out.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return "unexpected characters after IPv6 address";
            port = after.substr(1);
        }
    } else {
        const auto colon = authority.rfind(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (out.host.empty()) return "missing host";
    if (!port.empty() || authority.back() == ':') {
        unsigned p = 0;
        if (!parse_number(port, p) || p == 0 || p > 65535) return "invalid port";
        out.port = std::string(port);
    }
    if (path.find_first_of("?# \r\n") != std::string_view::npos) return "query strings and fragments are not supported";
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    out.base_path = path.empty() ? "/v1" : std::string(path);
    return {};
}

args_result parse_args(const std::vector<std::string>& args) {
    args_result r;
    options& o = r.opts;
    workload_config& w = o.workload;
    bool models_given = false, seed_given = false, concurrency_given = false;
    std::vector<std::string> workload_flags;  // flags that make no sense with --trace
    cursor c(args);

    auto fail = [&](const std::string& flag, const std::string& msg) {
        r.error = flag + ": " + msg;
        return r;
    };

    while (!c.done()) {
        const std::string flag = c.next_flag();
        auto need = [&](std::string& v) {
            auto x = c.value();
            if (!x) return false;
            v = std::move(*x);
            return true;
        };
        std::string v;
        // Flags without a value.
        if (flag == "--help" || flag == "-h") {
            r.help = true;
            return r;
        }
        if (flag == "--quiet" || flag == "--stream" || flag == "--include-usage") {
            if (c.has_inline()) return fail(flag, "takes no value");
            if (flag == "--quiet") o.quiet = true;
            if (flag == "--stream") { w.stream_share = 1; workload_flags.push_back(flag); }
            if (flag == "--include-usage") w.include_usage = true;
            continue;
        }
        if (flag.rfind("--", 0) != 0) return fail(flag, "unexpected argument (flags start with --)");

        if (flag == "--compare") {
            std::string a, b;
            if (!need(a) || !need(b)) return fail(flag, "needs two URLs: --compare URL_A URL_B");
            if (!o.targets.empty()) return fail(flag, "give either --url or --compare, once");
            for (auto* u : {&a, &b}) {
                target_url t;
                if (auto err = parse_target_url(*u, t); !err.empty()) return fail(flag, err + " (" + *u + ")");
                o.targets.push_back(std::move(t));
            }
            continue;
        }
        if (!need(v)) return fail(flag, "needs a value");

        if (flag == "--url") {
            if (!o.targets.empty()) return fail(flag, "give either --url or --compare, once");
            target_url t;
            if (auto err = parse_target_url(v, t); !err.empty()) return fail(flag, err + " (" + v + ")");
            o.targets.push_back(std::move(t));
        } else if (flag == "--endpoint") {
            auto e = parse_endpoint(v);
            if (!e) return fail(flag, "expected chat, completions or embeddings, got '" + v + "'");
            w.ep = *e;
        } else if (flag == "--concurrency") {
            if (!parse_number(v, o.concurrency) || o.concurrency < 1) return fail(flag, "expected an integer >= 1");
            concurrency_given = true;
        } else if (flag == "--rate") {
            double x = 0;
            if (!parse_number(v, x) || x <= 0) return fail(flag, "expected a number > 0 (requests per second)");
            o.rate = x;
        } else if (flag == "--max-inflight") {
            if (!parse_number(v, o.max_inflight) || o.max_inflight < 1) return fail(flag, "expected an integer >= 1");
        } else if (flag == "--requests") {
            std::uint64_t n = 0;
            if (!parse_number(v, n) || n < 1) return fail(flag, "expected an integer >= 1");
            o.requests = n;
        } else if (flag == "--duration") {
            double x = 0;
            if (!parse_number(v, x) || x <= 0) return fail(flag, "expected a number of seconds > 0");
            o.duration_s = x;
        } else if (flag == "--warmup") {
            if (!parse_number(v, o.warmup)) return fail(flag, "expected an integer >= 0");
        } else if (flag == "--model") {
            model_weight m;
            const auto eq = v.rfind('=');
            m.name = v.substr(0, eq);
            if (eq != std::string::npos &&
                (!parse_number(std::string_view(v).substr(eq + 1), m.weight) || m.weight <= 0))
                return fail(flag, "expected NAME or NAME=WEIGHT with WEIGHT > 0, got '" + v + "'");
            if (m.name.empty()) return fail(flag, "model name is empty");
            if (!models_given) w.models.clear();
            models_given = true;
            w.models.push_back(std::move(m));
            workload_flags.push_back(flag);
        } else if (flag == "--prompt-words") {
            const auto dash = v.find('-');
            unsigned lo = 0, hi = 0;
            const bool ok = dash == std::string::npos
                                ? parse_number(v, lo) && (hi = lo, true)
                                : parse_number(std::string_view(v).substr(0, dash), lo) &&
                                      parse_number(std::string_view(v).substr(dash + 1), hi);
            if (!ok || lo < 1 || hi < lo || hi > 1000000) return fail(flag, "expected N or MIN-MAX with 1 <= MIN <= MAX");
            w.prompt_words_min = lo;
            w.prompt_words_max = hi;
            workload_flags.push_back(flag);
        } else if (flag == "--max-tokens") {
            unsigned n = 0;
            if (!parse_number(v, n) || n < 1) return fail(flag, "expected an integer >= 1");
            w.max_tokens = n;
            workload_flags.push_back(flag);
        } else if (flag == "--repeat-share" || flag == "--stream-share") {
            double x = 0;
            if (!parse_number(v, x) || x < 0 || x > 1) return fail(flag, "expected a number between 0 and 1");
            (flag == "--repeat-share" ? w.repeat_share : w.stream_share) = x;
            workload_flags.push_back(flag);
        } else if (flag == "--repeat-pool") {
            if (!parse_number(v, w.repeat_pool) || w.repeat_pool < 1) return fail(flag, "expected an integer >= 1");
            workload_flags.push_back(flag);
        } else if (flag == "--embed-inputs") {
            if (!parse_number(v, w.embed_inputs) || w.embed_inputs < 1) return fail(flag, "expected an integer >= 1");
            workload_flags.push_back(flag);
        } else if (flag == "--extra") {
            auto j = nlohmann::json::parse(v, nullptr, false);
            if (j.is_discarded() || !j.is_object()) return fail(flag, "expected a JSON object, e.g. '{\"temperature\":0}'");
            w.extra = j.dump();
        } else if (flag == "--header") {
            const auto colon = v.find(':');
            if (colon == std::string::npos) return fail(flag, "expected 'Name: value'");
            std::string name(trim(std::string_view(v).substr(0, colon)));
            std::string value(trim(std::string_view(v).substr(colon + 1)));
            if (!valid_header_name(name)) return fail(flag, "invalid header name '" + name + "'");
            if (value.find_first_of("\r\n") != std::string::npos) return fail(flag, "header value contains a line break");
            o.headers.emplace_back(std::move(name), std::move(value));
        } else if (flag == "--api-key") {
            if (v.empty() || v.find_first_of("\r\n") != std::string::npos) return fail(flag, "expected a non-empty key");
            o.api_key = v;
        } else if (flag == "--seed") {
            if (!parse_number(v, w.seed)) return fail(flag, "expected an unsigned integer");
            seed_given = true;
        } else if (flag == "--trace") {
            if (v.empty()) return fail(flag, "expected a file path");
            o.trace_path = v;
        } else if (flag == "--trace-speed") {
            if (!parse_number(v, o.trace_speed) || o.trace_speed <= 0) return fail(flag, "expected a number > 0");
        } else if (flag == "--timeout") {
            if (!parse_number(v, o.timeout_s) || o.timeout_s <= 0) return fail(flag, "expected a number of seconds > 0");
        } else if (flag == "--threads") {
            if (!parse_number(v, o.threads) || o.threads < 1 || o.threads > 256) return fail(flag, "expected an integer between 1 and 256");
        } else if (flag == "--json") {
            if (v.empty()) return fail(flag, "expected a file path");
            o.json_path = v;
        } else {
            return fail(flag, "unknown flag (see --help)");
        }
    }

    if (o.targets.empty()) return fail("--url", "required (or --compare URL_A URL_B)");
    if (o.rate && concurrency_given) return fail("--rate", "cannot be combined with --concurrency (open loop vs closed loop)");
    if (!o.trace_path.empty()) {
        if (o.rate) return fail("--trace", "replays on its own timestamps; --rate does not apply");
        if (concurrency_given) return fail("--trace", "replays open-loop; --concurrency does not apply");
        if (!workload_flags.empty()) return fail(workload_flags.front(), "does not apply with --trace (the trace defines the requests)");
    } else if (o.trace_speed != 1) {
        return fail("--trace-speed", "needs --trace");
    }
    if (w.ep == endpoint::embeddings && w.stream_share > 0) return fail("--endpoint", "embeddings cannot stream (drop --stream / --stream-share)");
    if (!o.requests && !o.duration_s && o.trace_path.empty()) o.duration_s = 10;
    if (!seed_given) w.seed = std::random_device{}();
    return r;
}

void options_to_json(const options& o, nlohmann::json& j) {
    j = nlohmann::json::object();
    j["urls"] = nlohmann::json::array();
    for (const auto& t : o.targets) j["urls"].push_back(t.text);
    j["mode"] = o.compare() ? "compare" : "single";
    j["endpoint"] = endpoint_name(o.workload.ep);
    if (o.trace_path.empty()) {
        if (o.rate) j["rate"] = *o.rate; else j["concurrency"] = o.concurrency;
        auto& models = j["models"] = nlohmann::json::object();
        for (const auto& m : o.workload.models) models[m.name] = m.weight;
        j["prompt_words"] = {o.workload.prompt_words_min, o.workload.prompt_words_max};
        if (o.workload.max_tokens) j["max_tokens"] = *o.workload.max_tokens;
        j["repeat_share"] = o.workload.repeat_share;
        j["repeat_pool"] = o.workload.repeat_pool;
        j["stream_share"] = o.workload.stream_share;
        if (o.workload.ep == endpoint::embeddings) j["embed_inputs"] = o.workload.embed_inputs;
    } else {
        j["trace"] = o.trace_path;
        j["trace_speed"] = o.trace_speed;
    }
    if (o.open_loop()) j["max_inflight"] = o.max_inflight;
    if (o.requests) j["requests"] = *o.requests;
    if (o.duration_s) j["duration_s"] = *o.duration_s;
    j["warmup"] = o.warmup;
    j["include_usage"] = o.workload.include_usage;
    if (!o.workload.extra.empty()) j["extra"] = nlohmann::json::parse(o.workload.extra, nullptr, false);
    auto& headers = j["headers"] = nlohmann::json::array();
    for (const auto& [n, v] : o.headers) headers.push_back(n);  // names only: values may be secrets
    j["api_key"] = !o.api_key.empty();
    j["timeout_s"] = o.timeout_s;
    j["threads"] = o.threads;
    j["seed"] = o.workload.seed;
}

std::string usage_text() {
    return R"(usage: swapgate-bench --url http://HOST:PORT/v1 [options]
       swapgate-bench --compare URL_A URL_B [options]

Target
  --url URL                 base URL (plain http; empty path means /v1)
  --compare URL_A URL_B     same workload against two bases, alternating request by request
  --endpoint E              chat | completions | embeddings (default chat)
Load
  --concurrency N           closed loop: N workers, one keep-alive connection each (default 1)
  --rate R                  open loop: Poisson arrivals at R req/s
  --max-inflight N          open-loop cap on requests in flight (default 1024)
  --requests N              stop after N measured requests
  --duration S              stop issuing after S seconds (default 10 if no other bound)
  --warmup N                first N requests are not measured
  --threads N               I/O threads (default 1)
  --timeout S               per-request timeout in seconds (default 120)
Workload
  --model NAME[=WEIGHT]     repeatable weighted mix (default sim)
  --prompt-words N|MIN-MAX  prompt length in words (default 32)
  --max-tokens N            max_tokens in every request (omitted by default)
  --repeat-share F          share of requests reusing a prompt from a small pool (default 0)
  --repeat-pool K           size of that pool (default 16)
  --stream-share F          share of streaming requests (default 0); --stream = 1
  --include-usage           stream_options.include_usage = true on streams
  --embed-inputs N          inputs per embeddings request (default 1)
  --extra JSON              object merged (JSON merge patch) into every body
  --header 'Name: value'    extra request header (repeatable)
  --api-key K               Authorization: Bearer K
  --seed N                  workload seed (default random, printed in --json)
  --trace FILE.jsonl        replay a JSONL trace open-loop on its timestamps
  --trace-speed X           replay X times faster (default 1)
Output
  --json FILE               write the full results as JSON
  --quiet                   no progress line on stderr

Exit: 0 run completed (even with request errors), 1 no target reachable, 2 bad arguments.
)";
}

}  // namespace swapgate::bench
