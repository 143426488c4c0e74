"""Embeddings batching on vs off at concurrency 64 (issue 6). Run through bench/routing/run.py."""
import os
import threading
import time

import common as C  # noqa: E402  (bench/common.py; helpers.py put bench/ on sys.path)
from helpers import fmt, ratio, delta_stats, TARGET_BATCH_RATIO


# ---- 1. embeddings batching -------------------------------------------------

def batching_scenarios(quick):
    """Sim embeddings models: the issue's cost (5 ms per call + 0.2 ms per input) with one
    slot (the headline) and with four, and the same shape at 5x the time scale."""
    all_ = [
        {"name": "issue-s1", "call_ms": 5, "item_ms": 0.2, "slots": 1,
         "title": "issue's cost (5 ms + 0.2 ms/input), 1 slot"},
        {"name": "issue-s4", "call_ms": 5, "item_ms": 0.2, "slots": 4,
         "title": "issue's cost (5 ms + 0.2 ms/input), 4 slots"},
        {"name": "x5-s1", "call_ms": 25, "item_ms": 1, "slots": 1,
         "title": "issue's cost x5 (25 ms + 1 ms/input), 1 slot"},
    ]
    return [all_[0]] if quick else all_


def share(part, total):
    x = 100.0 * part / total
    return "<1%" if 0 < x < 0.5 else f"{x:.0f}%"


def fmt_hist(hd):
    """Prometheus bucket deltas {le: cumulative count} as "<=1: 50%, <=64: 50%" (share of calls
    per bucket, empty buckets left out)."""
    total = hd.get("+Inf", 0)
    if not total:
        return ""
    prev, parts = 0, []
    for le in sorted((k for k in hd if k != "+Inf"), key=float):
        if hd[le] - prev > 0:
            parts.append(f"<={float(le):g}: {share(hd[le] - prev, total)}")
        prev = hd[le]
    if total - prev > 0:
        parts.append(f">{float(max((k for k in hd if k != '+Inf'), key=float)):g}: {share(total - prev, total)}")
    return ", ".join(parts)


def measure_embeddings(ctx, url, sg, sg_port, sim, sim_port, sim_model, model, concurrency, settle, duration, seed):
    """One arm: swapgate-bench runs closed loop for settle + duration (+ a little); the
    throughput is the steady-state completion rate, from swapgate's
    swapgate_requests_total scraped `settle` s after the start and again `duration` s
    later (swapgate-bench's own req/s divides by a window that includes the drain of the
    last requests, which is long next to a short run when latencies are in seconds)."""
    bench_json = os.path.join(ctx.tmp, "batching-bench.json")
    answered = lambda m: C.metric(m, "swapgate_requests_total", endpoint="embeddings", model=model) or 0
    hist = lambda m: {l["le"]: v for n, l, v in m
                      if n == "swapgate_embed_batch_size_bucket" and l.get("model") == model}
    st0, m0 = C.sim_stats(sim_port)["per_model"][sim_model], C.scrape_metrics(sg_port)
    result = {}

    def run():
        try:
            result["b"] = C.run_bench(ctx.bins["swapgate-bench"], url,
                                      ["--endpoint", "embeddings", "--model", model, "--concurrency", str(concurrency),
                                       "--duration", str(settle + duration + 0.3), "--warmup", str(concurrency),
                                       "--prompt-words", "8", "--seed", str(seed), "--timeout", "60"], bench_json)
        except Exception as e:  # reported below
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    time.sleep(settle)
    t1, m1 = time.perf_counter(), C.scrape_metrics(sg_port)
    cpu1 = {"swapgate": C.cpu_seconds(sg.pid), "sim": C.cpu_seconds(sim.pid)}
    busy1 = C.machine_busy_seconds()
    time.sleep(duration)
    busy2 = C.machine_busy_seconds()
    cpu2 = {"swapgate": C.cpu_seconds(sg.pid), "sim": C.cpu_seconds(sim.pid)}
    t2, m2 = time.perf_counter(), C.scrape_metrics(sg_port)
    t.join(120)
    if "error" in result or "b" not in result:
        raise RuntimeError(f"swapgate-bench for {model}: {result.get('error', 'did not finish')}")
    b = result["b"]
    st3, m3 = C.sim_stats(sim_port)["per_model"][sim_model], C.scrape_metrics(sg_port)
    calls = delta_stats(st3, st0)
    sent = answered(m3) - answered(m0)
    h0, h3 = hist(m0), hist(m3)
    hd = {le: v - h0.get(le, 0) for le, v in h3.items()}
    batch_sizes = fmt_hist(hd)
    done = answered(m2) - answered(m1)
    return {"throughput_rps": done / (t2 - t1), "window_s": t2 - t1,
            # CPU over the window, in cores, and per answered request (µs).
            "cpu_cores": {k: (cpu2[k] - cpu1[k]) / (t2 - t1) for k in cpu1},
            "cpu_us_per_request": {k: (cpu2[k] - cpu1[k]) * 1e6 / done if done else None for k in cpu1},
            # All cores' busy time over the window (ours, swapgate-bench's and anyone else's).
            "machine_busy_cores": (busy2 - busy1) / (t2 - t1),
            "bench_throughput_rps": b["throughput_rps"], "requests": b["requests"], "ok": b["ok"],
            "errors": b["requests"] - b["ok"], "error_kinds": b.get("errors", {}), "latency_ms": b["latency_ms"],
            "upstream_calls": calls, "answered": sent,
            "requests_per_upstream_call": sent / calls if calls else None,
            "batch_size_histogram": hd, "batch_sizes": batch_sizes, "seed": seed}


def bench_batching(ctx):
    a = ctx.args
    scen = batching_scenarios(a.quick)
    concurrency = 64
    duration = a.batch_duration or (1.5 if a.quick else 3.0)
    settle = 0.7 if a.quick else 1.0
    rounds = a.rounds or (1 if a.quick else 2)
    specs = [f"{s['name']},embed_call_ms={s['call_ms']},embed_item_ms={s['item_ms']},slots={s['slots']}"
             for s in scen]
    sim, sim_port = ctx.procs.sim(ctx.bins["swapgate-sim"], specs, name="batching-sim")
    models = []
    for s in scen:
        models.append(f"  - {{name: {s['name']}-off, backend: sim, upstream_model: {s['name']}, cache: {{mode: off}}}}")
        models.append(f"  - {{name: {s['name']}-on, backend: sim, upstream_model: {s['name']}, cache: {{mode: off}}, "
                      f"batch: {{window: {a.batch_window}, slots: {s['slots']}, max_inputs: 256}}}}")
    cfg = f"""listen: 127.0.0.1:0
threads: {a.threads}
log: {{requests: false}}
backends:
  sim: {{url: "http://127.0.0.1:{sim_port}/v1", max_idle_connections: 256}}
models:
""" + "\n".join(models)
    sg, sg_port, _ = ctx.procs.swapgate(ctx.bins["swapgate"], cfg, name="batching-swapgate")
    url = f"http://127.0.0.1:{sg_port}/v1"
    res = {s["name"]: {"off": [], "on": []} for s in scen}
    seed = 1000
    for r in range(rounds):
        for i, s in enumerate(scen):
            arms = ("off", "on") if (r + i) % 2 == 0 else ("on", "off")
            for arm in arms:
                seed += 1
                model = f"{s['name']}-{arm}"
                rec = measure_embeddings(ctx, url, sg, sg_port, sim, sim_port, s["name"], model, concurrency, settle,
                                         duration, seed)
                res[s["name"]][arm].append(rec)
                C.log(f"  batching {s['name']:<9} round {r + 1} {arm:<3} {rec['throughput_rps']:8.1f} req/s  "
                      f"p50 {fmt(rec['latency_ms']['p50'])} ms  p99 {fmt(rec['latency_ms']['p99'])} ms  "
                      f"req/call {fmt(rec['requests_per_upstream_call'], '.1f')}  "
                      f"swapgate {rec['cpu_cores']['swapgate']:.2f} cores, sim {rec['cpu_cores']['sim']:.2f}, "
                      f"machine {rec['machine_busy_cores']:.2f}  "
                      f"batches {rec['batch_sizes'] or '-'}  errors {rec['errors']}")
    ctx.procs.stop(sg)
    ctx.procs.stop(sim)
    out = []
    for s in scen:
        row = {"scenario": s["name"], "title": s["title"],
               "sim_spec": f"embed_call_ms={s['call_ms']},embed_item_ms={s['item_ms']},slots={s['slots']}",
               "batch": {"window": a.batch_window, "slots": s["slots"], "max_inputs": 256}, "arms": {}}
        for arm in ("off", "on"):
            rs = res[s["name"]][arm]
            row["arms"][arm] = {
                "throughput_rps": C.median([x["throughput_rps"] for x in rs]),
                "latency_p50_ms": C.median([x["latency_ms"]["p50"] for x in rs]),
                "latency_p99_ms": C.median([x["latency_ms"]["p99"] for x in rs]),
                "requests_per_upstream_call": C.median([x["requests_per_upstream_call"] for x in rs]),
                "swapgate_cpu_cores": C.median([x["cpu_cores"]["swapgate"] for x in rs]),
                "sim_cpu_cores": C.median([x["cpu_cores"]["sim"] for x in rs]),
                "machine_busy_cores": C.median([x["machine_busy_cores"] for x in rs]),
                "swapgate_cpu_us_per_request": C.median([x["cpu_us_per_request"]["swapgate"] for x in rs]),
                "errors": sum(x["requests"] - x["ok"] for x in rs),
                "batch_sizes": fmt_hist({le: sum(x["batch_size_histogram"].get(le, 0) for x in rs)
                                         for le in rs[0]["batch_size_histogram"]}) if rs else "",
                "rounds": rs,
            }
        # Ideal (no proxy cost): off = slots / (call + item); on = slots x B / (call + B x item)
        # with B = 64 / slots requests per call (every worker waiting).
        per_call = concurrency / s["slots"]
        ideal_off = s["slots"] * 1000.0 / (s["call_ms"] + s["item_ms"])
        ideal_on = s["slots"] * per_call * 1000.0 / (s["call_ms"] + per_call * s["item_ms"])
        row["ideal_rps"] = {"off": ideal_off, "on": ideal_on, "ratio": ideal_on / ideal_off}
        row["ratio"] = ratio(row["arms"]["on"]["throughput_rps"], row["arms"]["off"]["throughput_rps"])
        row["ratios_per_round"] = [ratio(on["throughput_rps"], off["throughput_rps"])
                                   for on, off in zip(res[s["name"]]["on"], res[s["name"]]["off"])]
        row["target_met"] = row["ratio"] is not None and row["ratio"] >= TARGET_BATCH_RATIO
        out.append(row)
    return {"concurrency": concurrency, "duration_s": duration, "settle_s": settle, "rounds": rounds, "prompt_words": 8,
            "swapgate_threads": a.threads, "scenarios": out}


def table_batching(rep):
    lines = [f"### 1. Embeddings batching, concurrency {rep['concurrency']} "
             f"({rep['rounds']} round(s) of {rep['duration_s']:g} s per arm, medians)", "",
             "| sim model | batching | req/s | p50 ms | p99 ms | requests per upstream call | batch sizes (share of calls) "
             "| swapgate CPU cores (µs/req) | sim CPU cores | machine busy cores | errors | on/off "
             "| bound on/off (64 per call, no proxy cost) | target >= 3x |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in rep["scenarios"]:
        for arm in ("off", "on"):
            t = row["arms"][arm]
            extra = ["", "", ""]
            if arm == "on":
                extra = [fmt(row["ratio"], ".2f") + "x", f"{row['ideal_rps']['ratio']:.1f}x",
                         "met" if row["target_met"] else "missed"]
            lines.append(f"| {row['title']} | {arm} | {fmt(t['throughput_rps'], '.0f')} | "
                         f"{fmt(t['latency_p50_ms'])} | {fmt(t['latency_p99_ms'])} | "
                         f"{fmt(t['requests_per_upstream_call'], '.1f')} | {t['batch_sizes'] or '-'} | "
                         f"{fmt(t['swapgate_cpu_cores'], '.2f')} ({fmt(t['swapgate_cpu_us_per_request'], '.0f')}) | "
                         f"{fmt(t['sim_cpu_cores'], '.2f')} | {fmt(t['machine_busy_cores'], '.2f')} | {t['errors']} | "
                         + " | ".join(extra) + " |")
    return "\n".join(lines)
