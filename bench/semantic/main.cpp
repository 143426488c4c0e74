// swapgate-semantic-bench: lookup latency (p50/p99), recall@1 against brute force
// (exact_index) and memory of one semantic partition held in an hnsw_index, for the
// given sizes; plus, with --crossover, exact vs graph search at small sizes (where a
// partition should switch). See README.md.
#include "bench/semantic/dataset.hpp"
#include "bench/semantic/measure.hpp"
#include "cache/hnsw_index.hpp"
#include "cache/vector_index.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace swapgate::bench::semantic;
namespace cache = swapgate::cache;
using nlohmann::json;

struct options {
    std::vector<std::size_t> sizes{10000, 100000};
    std::size_t queries = 2000;
    std::size_t truth_queries = 0;  // 0 = all queries get a brute-force answer
    unsigned threads = 1;
    std::size_t dims = 768;
    std::vector<distribution> dists{distribution::clustered, distribution::uniform};
    cache::hnsw_params params;
    std::vector<std::size_t> efs{32, 64, 128};
    std::vector<std::size_t> crossover;
    std::string json_path;
    std::uint64_t seed = 42;
    float threshold = 0.95f;
};

const char* usage =
    "swapgate-semantic-bench [--sizes 10000,100000,1000000] [--queries 2000] [--truth-queries N]\n"
    "  [--threads 1] [--dims 768] [--distribution clustered,uniform] [--m 16] [--ef-construction 200]\n"
    "  [--ef 32,64,128] [--crossover 500,1000,2000,4000] [--threshold 0.95] [--seed 42] [--json FILE]\n";

std::vector<std::size_t> numbers(const std::string& list) {
    std::vector<std::size_t> out;
    std::stringstream ss(list);
    for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoull(item));
    return out;
}

bool parse(int argc, char** argv, options& o) {
    try {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "--help" || a == "-h") return false;
            if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
            std::string v = argv[++i];
            if (a == "--sizes") o.sizes = numbers(v);
            else if (a == "--queries") o.queries = std::stoull(v);
            else if (a == "--truth-queries") o.truth_queries = std::stoull(v);
            else if (a == "--threads") o.threads = static_cast<unsigned>(std::stoul(v));
            else if (a == "--dims") o.dims = std::stoull(v);
            else if (a == "--m") o.params.m = std::stoull(v);
            else if (a == "--ef-construction") o.params.ef_construction = std::stoull(v);
            else if (a == "--ef") o.efs = numbers(v);
            else if (a == "--crossover") o.crossover = numbers(v);
            else if (a == "--threshold") o.threshold = std::stof(v);
            else if (a == "--seed") o.seed = std::stoull(v);
            else if (a == "--json") o.json_path = v;
            else if (a == "--distribution") {
                o.dists.clear();
                std::stringstream ss(v);
                for (std::string d; std::getline(ss, d, ',');) {
                    if (d != "clustered" && d != "uniform") throw std::invalid_argument("unknown distribution " + d);
                    o.dists.push_back(d == "uniform" ? distribution::uniform : distribution::clustered);
                }
            } else throw std::invalid_argument("unknown flag " + a);
        }
    } catch (const std::exception& e) {
        std::cerr << "swapgate-semantic-bench: " << e.what() << "\n";
        return false;
    }
    return !o.efs.empty() && o.queries > 0 && o.dims > 0;
}

json latency_json(const latency& l) {
    return {{"p50_us", l.p50_us}, {"p99_us", l.p99_us}, {"mean_us", l.mean_us}, {"max_us", l.max_us}};
}

double mb(double bytes) { return bytes / 1e6; }

// One partition of n rows: build, brute-force truth, then each ef.
json run_size(const options& o, distribution d, std::size_t n) {
    dataset data(d, o.dims, o.seed);
    std::string label = std::string(name_of(d)) + " n=" + std::to_string(n);
    std::fprintf(stderr, "%s: building the HNSW graph (M=%zu, ef_construction=%zu)\n", label.c_str(), o.params.m,
                 o.params.ef_construction);
    release_free_memory();  // so the RSS delta is not hidden by reuse of the previous run's frees
    std::size_t rss_before = resident_bytes();
    cache::hnsw_index graph(o.dims, o.params, cache::hnsw_index::mode::graph);
    double build_s = fill(graph, data, n, label);
    std::size_t rss_delta = resident_bytes() - rss_before;
    std::size_t estimate = graph.memory_bytes();

    auto queries = data.queries(n, o.queries);
    std::size_t truth_count = o.truth_queries ? std::min(o.truth_queries, o.queries) : o.queries;
    std::fprintf(stderr, "%s: brute force (exact_index) over %zu queries\n", label.c_str(), truth_count);
    answers truth;
    latency exact;
    {
        cache::exact_index brute(o.dims);
        fill(brute, data, n, "");
        exact = summarize(time_lookups(brute, queries, truth_count, 1, truth).wall_us);
    }

    json r = {{"distribution", name_of(d)},
              {"n", n},
              {"dims", o.dims},
              {"build_s", build_s},
              {"inserts_per_s", static_cast<double>(n) / build_s},
              {"rss_delta_bytes", rss_delta},
              {"estimate_bytes", estimate},
              {"rss_per_100k_mb", mb(static_cast<double>(rss_delta) * 1e5 / static_cast<double>(n))},
              {"estimate_per_100k_mb", mb(static_cast<double>(estimate) * 1e5 / static_cast<double>(n))},
              {"queries", o.queries},
              {"truth_queries", truth_count},
              {"exact_index", latency_json(exact)},
              {"hnsw", json::array()}};
    for (std::size_t ef : o.efs) {
        graph.set_ef_search(ef);
        answers got;
        time_lookups(graph, queries, o.queries, o.threads, got);  // warm up: a large graph starts cold
        timings t = time_lookups(graph, queries, o.queries, o.threads, got);
        latency l = summarize(t.wall_us), cpu = summarize(t.cpu_us);
        quality q = compare(queries, truth, got, o.threshold);
        r["hnsw"].push_back({{"ef", ef},
                             {"latency", latency_json(l)},
                             {"cpu", latency_json(cpu)},
                             {"recall_at_1", q.recall_at_1},
                             {"recall_near", q.recall_near},
                             {"recall_fresh", q.recall_fresh},
                             {"truth_hits", q.truth_hits},
                             {"hit_recall", q.hit_recall}});
        std::fprintf(stderr, "%s: ef=%zu p50 %.0f us p99 %.0f us recall@1 %.4f\n", label.c_str(), ef, l.p50_us,
                     l.p99_us, q.recall_at_1);
    }
    return r;
}

// Exact search against the graph at small sizes, both as semantic_index holds them.
json run_crossover(const options& o, std::size_t n) {
    dataset data(distribution::clustered, o.dims, o.seed);
    cache::hnsw_index exact(o.dims, o.params, cache::hnsw_index::mode::exact);
    cache::hnsw_index graph(o.dims, o.params, cache::hnsw_index::mode::graph);
    fill(exact, data, n, "");
    double build_s = fill(graph, data, n, "");
    auto queries = data.queries(n, o.queries);
    answers truth, got;
    time_lookups(exact, queries, 200, 1, truth);
    timings te = time_lookups(exact, queries, o.queries, 1, truth);
    time_lookups(graph, queries, 200, 1, got);
    timings tg = time_lookups(graph, queries, o.queries, 1, got);
    latency le = summarize(te.wall_us), lg = summarize(tg.wall_us);
    quality q = compare(queries, truth, got, o.threshold);
    std::fprintf(stderr, "crossover n=%zu: exact p50 %.0f us, graph p50 %.0f us (ef %zu)\n", n, le.p50_us, lg.p50_us,
                 o.params.ef_search);
    return {{"n", n}, {"exact", latency_json(le)}, {"graph", latency_json(lg)},
            {"exact_cpu", latency_json(summarize(te.cpu_us))}, {"graph_cpu", latency_json(summarize(tg.cpu_us))},
            {"graph_build_s", build_s},
            {"ef", o.params.ef_search}, {"recall_at_1", q.recall_at_1}};
}

void print_table(const json& results, const json& crossover) {
    std::printf("\n| distribution | vectors | build s | ef | p50 µs | p99 µs | p99 cpu µs | recall@1 | near | fresh "
                "| hit@thr | exact p50 µs | RSS MB/100k | est. MB/100k |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& r : results)
        for (const auto& h : r["hnsw"])
            std::printf("| %s | %zu | %.1f | %zu | %.0f | %.0f | %.0f | %.4f | %.4f | %.4f | %.4f | %.0f | %.0f | %.0f |\n",
                        r["distribution"].get<std::string>().c_str(), r["n"].get<std::size_t>(),
                        r["build_s"].get<double>(), h["ef"].get<std::size_t>(),
                        h["latency"]["p50_us"].get<double>(), h["latency"]["p99_us"].get<double>(),
                        h["cpu"]["p99_us"].get<double>(),
                        h["recall_at_1"].get<double>(), h["recall_near"].get<double>(),
                        h["recall_fresh"].get<double>(), h["hit_recall"].get<double>(),
                        r["exact_index"]["p50_us"].get<double>(), r["rss_per_100k_mb"].get<double>(),
                        r["estimate_per_100k_mb"].get<double>());
    if (crossover.empty()) return;
    std::printf("\n| vectors | exact p50 µs | exact p99 µs | graph p50 µs | graph p99 µs | graph recall@1 | graph build s |\n");
    std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& c : crossover)
        std::printf("| %zu | %.0f | %.0f | %.0f | %.0f | %.4f | %.2f |\n", c["n"].get<std::size_t>(),
                    c["exact"]["p50_us"].get<double>(), c["exact"]["p99_us"].get<double>(),
                    c["graph"]["p50_us"].get<double>(), c["graph"]["p99_us"].get<double>(),
                    c["recall_at_1"].get<double>(), c["graph_build_s"].get<double>());
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    if (!parse(argc, argv, o)) {
        std::cerr << usage;
        return 2;
    }
    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);

    json crossover = json::array();
    for (std::size_t n : o.crossover) crossover.push_back(run_crossover(o, n));
    json results = json::array();
    for (std::size_t n : o.sizes)
        for (distribution d : o.dists) results.push_back(run_size(o, d, n));
    print_table(results, crossover);

    if (!o.json_path.empty()) {
        json doc = {{"command", command},
                    {"hardware_threads", std::thread::hardware_concurrency()},
                    {"threads", o.threads},
                    {"threshold", o.threshold},
                    {"params", {{"m", o.params.m}, {"ef_construction", o.params.ef_construction}}},
                    {"results", results},
                    {"crossover", crossover}};
        std::ofstream f(o.json_path);
        f << doc.dump(2) << "\n";
        if (!f) {
            std::cerr << "swapgate-semantic-bench: cannot write " << o.json_path << "\n";
            return 1;
        }
    }
    return 0;
}
