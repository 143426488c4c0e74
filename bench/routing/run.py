#!/usr/bin/env python3
"""Routing benchmarks (issue 6): embeddings batching, coalescing of identical requests,
the cost of a dead primary behind an open breaker, and wait-or-go-remote.

Everything runs on loopback against swapgate-sim; every comparison is measured side by
side in one run (arms interleaved round by round where there are rounds) and reported
as medians and ratios. Nothing here asserts on speed: the issue's targets are printed
next to the figures as "met"/"missed".

  batching    /v1/embeddings at concurrency 64, `batch:` on vs off, sim embeddings cost
              call + items x item (target: >= 3x throughput with batching)
  coalescing  32 identical concurrent streams (temperature 0): upstream calls seen by the
              sim and byte-identical content, `routing.coalesce` true vs false
  breaker     sequential latency (c=1): healthy model vs a model whose primary backend is
              dead (nothing listens) with its breaker open, falling back to a healthy
              one (target: p99 added <= 1 ms); and, for contrast, with the breaker still
              closed (connection refused on every request)
  remote      a two-model trace on a device with room for one (process models, 2.5 s
              loads) plus a hosted stand-in at the end of each chain: max_local_wait
              large (always wait) vs 1 s (go remote), and 5 s in between

Writes bench/results/routing.json (--quick: into the temporary directory unless --out
is given) and prints Markdown tables. See bench/routing/README.md.
"""
import argparse
import datetime
import http.client
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import common as C  # noqa: E402

BENCHMARKS = ("batching", "coalescing", "breaker", "remote")
TARGET_BATCH_RATIO = 3.0
TARGET_ADDED_P99_MS = 1.0


# ---- small helpers ----------------------------------------------------------

def delta_stats(after, before, key="requests"):
    return after.get(key, 0) - before.get(key, 0)


def fmt(x, spec=".1f", none="-"):
    return none if x is None else format(x, spec)


def to_ms(seconds):
    return None if seconds is None else seconds * 1000


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def stream_chat(port, body, timeout=120, headers=None, keep_raw=False):
    """POSTs a streaming /v1/chat/completions; returns status, headers, time to the first
    content delta and to the end (s, from just before the request was sent), the
    concatenated content, whether [DONE] arrived, and optionally the raw body."""
    out = {"status": None, "headers": {}, "ttft_s": None, "total_s": None, "content": "", "done": False,
           "error": None}
    raw = bytearray()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(), headers=h)
        r = c.getresponse()
        out["status"] = r.status
        out["headers"] = {k.lower(): v for k, v in r.getheaders()}
        buf = b""
        parts = []
        while True:
            chunk = r.read1(65536)
            if not chunk:
                break
            raw += chunk
            buf += chunk
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        out["done"] = True
                        continue
                    try:
                        j = json.loads(data)
                    except ValueError:
                        continue
                    if "error" in j:
                        out["error"] = j["error"]
                    for ch in j.get("choices") or []:
                        piece = (ch.get("delta") or {}).get("content")
                        if piece:
                            if out["ttft_s"] is None:
                                out["ttft_s"] = time.perf_counter() - t0
                            parts.append(piece)
        out["content"] = "".join(parts)
    except (OSError, http.client.HTTPException) as e:
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        out["total_s"] = time.perf_counter() - t0
        c.close()
    if keep_raw:
        out["raw"] = bytes(raw)
    return out


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


# ---- 2. coalescing ----------------------------------------------------------

def bench_coalescing(ctx):
    a = ctx.args
    n = 32
    rounds = a.coalesce_rounds or (2 if a.quick else 5)
    spec = "chat,ttft_ms=300,tps=50,reply_tokens=24,slots=64"
    sim, sim_port = ctx.procs.sim(ctx.bins["swapgate-sim"], [spec], name="coalescing-sim")
    arms = {}
    for arm, value in (("on", "true"), ("off", "false")):
        base = f"""listen: 127.0.0.1:0
threads: {a.threads}
log: {{requests: true}}
backends:
  sim: {{url: "http://127.0.0.1:{sim_port}/v1", max_idle_connections: 256}}
models:
  - {{name: chat, backend: sim, cache: {{mode: deterministic}}}}
"""
        with_key = base + f"routing:\n  coalesce: {value}\n"
        path = C.write_config(os.path.join(ctx.tmp, f"coalescing-{arm}-check.yaml"), with_key)
        ok, msg = C.check_config(ctx.bins["swapgate"], path)
        supported = ok
        if not ok:
            if "coalesce" not in msg:
                raise RuntimeError("coalescing config rejected: " + msg)
            C.log(f"  coalescing: this swapgate build does not know routing.coalesce ({msg.splitlines()[-1].strip()}); "
                  f"arm '{arm}' runs with the build's default behaviour")
        p, port, _ = ctx.procs.swapgate(ctx.bins["swapgate"], with_key if supported else base,
                                        name=f"coalescing-swapgate-{arm}")
        arms[arm] = {"proc": p, "port": port, "coalesce_key_supported": supported, "rounds": []}
    order = ["on", "off"]
    for r in range(rounds):
        for arm in (order if r % 2 == 0 else order[::-1]):
            port = arms[arm]["port"]
            prompt = f"Coalescing round {r} arm {arm} nonce {random.getrandbits(48):x}: describe a lighthouse."
            body = {"model": "chat", "stream": True, "temperature": 0, "max_tokens": 64,
                    "messages": [{"role": "user", "content": prompt}]}
            s0 = C.sim_stats(sim_port)
            m0 = C.scrape_metrics(port)
            results = [None] * n
            barrier = threading.Barrier(n)

            def worker(i):
                barrier.wait()
                results[i] = stream_chat(port, body, timeout=60, keep_raw=True)

            threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(90)
            time.sleep(0.2)  # the sim's counters settle just before its last byte; be generous
            s1 = C.sim_stats(sim_port)
            m1 = C.scrape_metrics(port)
            done = [x for x in results if x is not None]
            ok = [x for x in done if x["status"] == 200 and x["done"] and not x["error"]]
            contents = {x["content"] for x in ok}
            raws = {x["raw"] for x in ok}
            coalesced_hdr = sum(1 for x in done if x["headers"].get("x-swapgate-coalesced", "").startswith("joined"))
            cache_hdr = {}
            for x in done:
                v = x["headers"].get("x-swapgate-cache", "(none)").split(";")[0]
                cache_hdr[v] = cache_hdr.get(v, 0) + 1
            met = lambda m: C.metric(m, "swapgate_coalesced_requests_total", model="chat")
            rec = {
                "upstream_calls": delta_stats(s1, s0),
                "ok": len(ok), "requests": n,
                "content_identical": len(ok) == n and len(contents) == 1,
                "distinct_contents": len(contents), "distinct_raw_bodies": len(raws),
                "content_chars": len(next(iter(contents))) if len(contents) == 1 else None,
                "coalesced_header": coalesced_hdr,
                # No series yet reads as 0 where the build knows the switch (the metric came with it).
                "coalesced_metric": (met(m1) or 0) - (met(m0) or 0) if arms[arm]["coalesce_key_supported"] or
                met(m1) is not None else None,
                "cache_header": cache_hdr,
                "latency_s": C.summary([x["total_s"] for x in ok], ps=(50, 99)),
                "ttft_s": C.summary([x["ttft_s"] for x in ok], ps=(50, 99)),
                "errors": [x["error"] or x["status"] for x in done if x not in ok][:3],
            }
            arms[arm]["rounds"].append(rec)
            C.log(f"  coalescing round {r + 1} {arm:<3} upstream calls {rec['upstream_calls']:>2}  ok {len(ok)}/{n}  "
                  f"identical content {rec['content_identical']}  joined {coalesced_hdr}  "
                  f"metric {fmt(rec['coalesced_metric'], '.0f')}  cache {cache_hdr}  "
                  f"p50 {fmt(to_ms(rec['latency_s']['p50']), '.0f')} ms")
    for arm in arms.values():
        ctx.procs.stop(arm.pop("proc"))
    ctx.procs.stop(sim)
    out = {"requests_per_round": n, "rounds": rounds, "sim_spec": spec, "arms": {}}
    for name, arm in arms.items():
        rs = arm["rounds"]
        out["arms"][name] = {
            "coalesce_key_supported": arm["coalesce_key_supported"],
            "upstream_calls_median": C.median([x["upstream_calls"] for x in rs]),
            "upstream_calls_per_round": [x["upstream_calls"] for x in rs],
            "all_content_identical": all(x["content_identical"] for x in rs),
            "raw_bodies_identical_rounds": sum(1 for x in rs if x["distinct_raw_bodies"] == 1),
            "coalesced_header_per_round": [x["coalesced_header"] for x in rs],
            "coalesced_metric_per_round": [x["coalesced_metric"] for x in rs],
            "latency_p50_ms": to_ms(C.median([x["latency_s"]["p50"] for x in rs])),
            "latency_max_ms": to_ms(max((x["latency_s"]["max"] or 0) for x in rs)) if rs else None,
            "ttft_p50_ms": to_ms(C.median([x["ttft_s"]["p50"] for x in rs])),
            "errors": sum(n - x["ok"] for x in rs),
            "rounds": rs,
        }
    return out


def table_coalescing(rep):
    lines = [f"### 2. Coalescing: {rep['requests_per_round']} identical concurrent streams per round, "
             f"{rep['rounds']} rounds per arm (fresh prompt each round; sim {rep['sim_spec']})", "",
             "| routing.coalesce | upstream calls per round (median; all rounds) | joined (header, per round) | "
             "swapgate_coalesced_requests_total (per round) | content identical in all rounds | raw SSE identical "
             "(rounds) | p50 latency ms | p50 TTFT ms | errors |",
             "|---|---:|---|---|---|---:|---:|---:|---:|"]
    for name in ("on", "off"):
        t = rep["arms"][name]
        label = ("true" if name == "on" else "false") + ("" if t["coalesce_key_supported"]
                                                         else " (key unknown to this build: default behaviour)")
        lines.append(f"| {label} | {fmt(t['upstream_calls_median'], '.0f')} "
                     f"({', '.join(str(x) for x in t['upstream_calls_per_round'])}) | "
                     f"{', '.join(str(x) for x in t['coalesced_header_per_round'])} | "
                     f"{', '.join(fmt(x, '.0f') for x in t['coalesced_metric_per_round'])} | "
                     f"{'yes' if t['all_content_identical'] else 'NO'} | "
                     f"{t['raw_bodies_identical_rounds']}/{len(t['upstream_calls_per_round'])} | "
                     f"{fmt(t['latency_p50_ms'], '.0f')} | {fmt(t['ttft_p50_ms'], '.0f')} | {t['errors']} |")
    return "\n".join(lines)


# ---- 3. dead primary, breaker -----------------------------------------------

def bench_breaker(ctx):
    a = ctx.args
    rounds = a.rounds or (1 if a.quick else 3)
    n_main = a.breaker_requests or (500 if a.quick else 3000)
    # The closed-breaker arm must stay below breaker_failures (1000, the config's maximum)
    # consecutive failures of its backend, warm-ups included.
    n_closed = min(250 if not a.quick else 150, max(50, 900 // rounds - 20))
    warm = 200
    sim, sim_port = ctx.procs.sim(ctx.bins["swapgate-sim"], ["fast,slots=256,reply_tokens=8"], name="breaker-sim")
    dead_open, dead_closed = C.free_port(), C.free_port()
    cfg = f"""listen: 127.0.0.1:0
threads: {a.threads}
log: {{requests: false}}
backends:
  sim: {{url: "http://127.0.0.1:{sim_port}/v1", max_idle_connections: 64}}
  dead-open: {{url: "http://127.0.0.1:{dead_open}/v1", timeouts: {{connect: 1s}}}}
  dead-closed: {{url: "http://127.0.0.1:{dead_closed}/v1", timeouts: {{connect: 1s}}}}
models:
  - {{name: healthy, backend: sim, upstream_model: fast, cache: {{mode: off}}}}
  - {{name: fb, backend: sim, upstream_model: fast, cache: {{mode: off}}}}
  - {{name: primary-open, backend: dead-open, upstream_model: fast, cache: {{mode: off}}, fallback: [fb]}}
  - {{name: primary-closed, backend: dead-closed, upstream_model: fast, cache: {{mode: off}}, fallback: [fb]}}
routing:
  fallback: {{breaker_failures: 1000, breaker_cooldown: 1h}}
"""
    sg, port, _ = ctx.procs.swapgate(ctx.bins["swapgate"], cfg, name="breaker-swapgate")
    url = f"http://127.0.0.1:{port}/v1"
    bench_json = os.path.join(ctx.tmp, "breaker-bench.json")

    def run(model, requests, warmup, seed):
        return C.run_bench(ctx.bins["swapgate-bench"], url,
                           ["--model", model, "--concurrency", "1", "--requests", str(requests),
                            "--warmup", str(warmup), "--prompt-words", "16", "--max-tokens", "8",
                            "--seed", str(seed), "--timeout", "30"], bench_json)

    # Open the breaker of dead-open: 1000 consecutive connection failures.
    state = lambda m: C.metric(m, "swapgate_breaker_state", backend="dead-open")
    opened_after = 0
    for _ in range(5):
        run("primary-open", 300, 0, 1)
        opened_after += 300
        if state(C.scrape_metrics(port)) == 2:
            break
    m = C.scrape_metrics(port)
    if state(m) != 2:
        raise RuntimeError(f"the breaker of dead-open did not open after {opened_after} requests "
                           f"(swapgate_breaker_state={state(m)})")
    samples = {}
    for model in ("healthy", "primary-open", "primary-closed"):
        st, hdr, _ = C.request(port, "POST", "/v1/chat/completions",
                               {"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "route?"}]})
        samples[model] = {"status": st, "x-swapgate-route": hdr.get("x-swapgate-route")}
    C.log(f"  breaker: dead-open opened after <= {opened_after} requests; routes: "
          + "; ".join(f"{k}: {v['x-swapgate-route']}" for k, v in samples.items()))
    arms = {"healthy": ("healthy", n_main), "breaker-open": ("primary-open", n_main),
            "breaker-closed": ("primary-closed", n_closed)}
    names = list(arms)
    res = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for arm in order:
            model, nreq = arms[arm]
            m0 = C.scrape_metrics(port)
            with C.ForeignLoad([sg.pid, sim.pid]) as fl:
                b = run(model, nreq, 20 if arm == "breaker-closed" else warm, 100 + r)
            m1 = C.scrape_metrics(port)
            fb = lambda m, trig: C.metric(m, "swapgate_fallbacks_total", model=model, trigger=trig) or 0
            rec = {"requests": b["requests"], "ok": b["ok"], "latency_ms": b["latency_ms"],
                   "throughput_rps": b["throughput_rps"], "foreign_cores": fl.cores,
                   "skipped_breaker_open": fb(m1, "breaker_open") - fb(m0, "breaker_open"),
                   "failed_connect": fb(m1, "connect") - fb(m0, "connect")}
            res[arm].append(rec)
            C.log(f"  breaker round {r + 1} {arm:<14} p50 {b['latency_ms']['p50'] * 1000:7.1f} us  "
                  f"p99 {b['latency_ms']['p99'] * 1000:7.1f} us  n {b['requests']}  errors {b['requests'] - b['ok']}  "
                  f"skipped(open) {rec['skipped_breaker_open']:.0f}  failed(connect) {rec['failed_connect']:.0f}  "
                  f"other processes {fl.cores:.2f} cores")
    m = C.scrape_metrics(port)
    final_state = {"dead-open": state(m), "dead-closed": C.metric(m, "swapgate_breaker_state", backend="dead-closed")}
    ctx.procs.stop(sg)
    ctx.procs.stop(sim)
    out = {"rounds": rounds, "requests": {k: v[1] for k, v in arms.items()}, "warmup": warm,
           "opened_after_requests": opened_after, "route_samples": samples, "breaker_state_end": final_state,
           "arms": {}}
    for arm, rs in res.items():
        out["arms"][arm] = {
            "latency_p50_us": C.median([x["latency_ms"]["p50"] * 1000 for x in rs]),
            "latency_p90_us": C.median([x["latency_ms"]["p90"] * 1000 for x in rs]),
            "latency_p99_us": C.median([x["latency_ms"]["p99"] * 1000 for x in rs]),
            "errors": sum(x["requests"] - x["ok"] for x in rs),
            "skipped_breaker_open": sum(x["skipped_breaker_open"] for x in rs),
            "failed_connect": sum(x["failed_connect"] for x in rs),
            "measured": sum(x["requests"] for x in rs),
            "foreign_cores_max": max(x["foreign_cores"] for x in rs),
            "rounds": rs,
        }
    h = out["arms"]["healthy"]
    for arm in ("breaker-open", "breaker-closed"):
        t = out["arms"][arm]
        t["added_p50_us"] = t["latency_p50_us"] - h["latency_p50_us"]
        t["added_p99_us"] = t["latency_p99_us"] - h["latency_p99_us"]
        t["added_p99_per_round_us"] = [(x["latency_ms"]["p99"] - y["latency_ms"]["p99"]) * 1000
                                       for x, y in zip(res[arm], res["healthy"])]
    out["target_met"] = out["arms"]["breaker-open"]["added_p99_us"] <= TARGET_ADDED_P99_MS * 1000
    return out


def table_breaker(rep):
    lines = [f"### 3. Dead primary: sequential latency (c=1), {rep['rounds']} round(s), medians", "",
             "| arm | route | requests | p50 µs | p90 µs | p99 µs | added p50 µs | added p99 µs | errors | "
             "hops skipped (breaker open) | hops failed (connect) | other processes, cores (max over rounds) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    routes = {"healthy": "healthy", "breaker-open": "primary-open", "breaker-closed": "primary-closed"}
    for arm in ("healthy", "breaker-open", "breaker-closed"):
        t = rep["arms"][arm]
        route = rep["route_samples"].get(routes[arm], {}).get("x-swapgate-route", "")
        lines.append(f"| {arm} | `{route}` | {t['measured']} | {fmt(t['latency_p50_us'])} | {fmt(t['latency_p90_us'])} | "
                     f"{fmt(t['latency_p99_us'])} | {fmt(t.get('added_p50_us'), '+.1f', '')} | "
                     f"{fmt(t.get('added_p99_us'), '+.1f', '')} | {t['errors']} | {t['skipped_breaker_open']:.0f} | "
                     f"{t['failed_connect']:.0f} | {t['foreign_cores_max']:.2f} |")
    o = rep["arms"]["breaker-open"]
    lines += ["", f"Target (dead primary behind an open breaker adds p99 <= {TARGET_ADDED_P99_MS:g} ms): "
                  f"{'met' if rep['target_met'] else 'missed'} ({o['added_p99_us']:+.1f} µs; per round "
                  f"{', '.join(f'{x:+.1f}' for x in o['added_p99_per_round_us'])} µs)."]
    return "\n".join(lines)


# ---- 4. wait or go remote ---------------------------------------------------

PHASES = (("a", 8.0), ("b", 4.0))  # the busy model alternates: a for 8 s, then b for 4 s, ...
STRAY = 0.1                        # share of requests in a phase for the other model


def remote_trace(seed, length_s, rate_per_s):
    """Poisson arrivals at `rate_per_s`; the busy model alternates in phases (PHASES: a for
    8 s, b for 4 s, repeated), and a request goes to the other model with probability STRAY
    (a stray request: the case where going remote saves a whole swap). Returns
    [(t_s, model)]."""
    g = random.Random(seed)
    cycle = sum(d for _, d in PHASES)
    out, t = [], 0.0
    while True:
        t += g.expovariate(rate_per_s)
        if t >= length_s:
            return out
        x, busy = t % cycle, PHASES[-1][0]
        for name, d in PHASES:
            if x < d:
                busy = name
                break
            x -= d
        other = "b" if busy == "a" else "a"
        out.append((round(t, 3), other if g.random() < STRAY else busy))


def swap_timeline(log_path, t0):
    """Load/unload events from a swapgate log, in seconds from the start of the trace."""
    out = []
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if j.get("event") in ("load", "loaded", "unload", "load_failed", "crash") and \
                        "starting" not in j.get("message", ""):
                    ts = datetime.datetime.strptime(j["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                        tzinfo=datetime.timezone.utc).timestamp()
                    out.append({"t_s": round(ts - t0, 2), "event": j["event"], "message": j.get("message", "")})
    except OSError:
        pass
    return out


def bench_remote(ctx):
    a = ctx.args
    length = a.remote_length or (10.0 if a.quick else 40.0)
    rate = 1.5
    load_ms = 2500
    trace = remote_trace(7, length, rate)
    hosted, hosted_port = ctx.procs.sim(ctx.bins["swapgate-sim"], ["hosted,ttft_ms=300,tps=60,reply_tokens=32,slots=256"],
                                        name="remote-hosted")
    sim_bin = ctx.bins["swapgate-sim"]
    # wait: never go remote; remote: the issue's small limit (below any load time);
    # mid: above one load (2.5 s) but below a load behind a drain or a queue.
    arms_cfg = {"wait": "600s", "mid": "5s", "remote": "1s"}
    arms = {}
    for arm, mlw in arms_cfg.items():
        models = []
        for name in ("a", "b"):
            cmd = (f"{sim_bin} --listen 127.0.0.1:${{PORT}} --model {name},loaded=1,load_ms={load_ms},ttft_ms=50,"
                   f"tps=60,reply_tokens=32,slots=4,memory_mb=4000 --quiet")
            models.append(f"""  - name: {name}
    driver: process
    command: "{cmd}"
    memory_mb: 4000
    load_cost: {load_ms}ms
    slots: 4
    preload: {'true' if name == 'a' else 'false'}
    cache: {{mode: off}}
    max_local_wait: {mlw}
    fallback: [hosted]""")
        cfg = f"""listen: 127.0.0.1:0
threads: {a.threads}
log: {{requests: true}}
devices:
  gpu0: {{budget_mb: 5000}}
scheduler: {{policy: value}}
backends:
  hosted-api: {{url: "http://127.0.0.1:{hosted_port}/v1"}}
models:
""" + "\n".join(models) + "\n  - {name: hosted, backend: hosted-api, cache: {mode: off}}\n"
        p, port, _ = ctx.procs.swapgate(ctx.bins["swapgate"], cfg, name=f"remote-swapgate-{arm}")
        arms[arm] = {"proc": p, "port": port, "max_local_wait": mlw}
    # Wait until `a` (preload) serves in every arm, so all start from the same state.
    deadline = time.time() + 60
    for arm in arms.values():
        while True:
            st = C.http_json(arm["port"], "/admin/models")
            ent = next(m for m in st["models"] if m["name"] == "a")
            if ent.get("state") == "loaded":
                break
            if time.time() > deadline:
                raise RuntimeError(f"model a not loaded after 60 s: {ent}")
            time.sleep(0.1)
    before = {k: (C.http_json(v["port"], "/admin/models")["counters"], C.scrape_metrics(v["port"]))
              for k, v in arms.items()}
    # All arms replay the same trace at the same time (the work is timers, not CPU).
    results = {k: [None] * len(trace) for k in arms}

    def one(arm, i, model):
        body = {"model": model, "stream": True, "max_tokens": 32, "temperature": 0.7,
                "messages": [{"role": "user", "content": f"remote bench {arm} request {i}: summarise the news."}]}
        r = stream_chat(arms[arm]["port"], body, timeout=180)
        route = r["headers"].get("x-swapgate-route", "")
        r.update({"model": model, "route": route, "remote": "served_by=hosted" in route,
                  "skipped_remote": "remote-instead-of-wait" in route})
        r.pop("content", None)
        results[arm][i] = r

    C.log(f"  remote: replaying {len(trace)} requests over {length:.0f} s "
          f"({sum(1 for _, m in trace if m == 'a')} a, {sum(1 for _, m in trace if m == 'b')} b) in all arms at once")
    t0, t0_wall = time.perf_counter(), time.time()
    threads = []
    for i, (at, model) in enumerate(trace):
        delay = at - (time.perf_counter() - t0)
        if delay > 0:
            time.sleep(delay)
        for arm in arms:
            t = threading.Thread(target=one, args=(arm, i, model), daemon=True)
            t.start()
            threads.append(t)
    for t in threads:
        t.join(max(1.0, 240 - (time.perf_counter() - t0)))
    wall = time.perf_counter() - t0
    out = {"trace": {"seed": 7, "length_s": length, "rate_per_s": rate, "requests": len(trace),
                     "per_model": {m: sum(1 for _, x in trace if x == m) for m in ("a", "b")},
                     "phases": [list(p) for p in PHASES], "stray_share": STRAY},
           "setup": {"device_budget_mb": 5000, "model_memory_mb": 4000, "load_ms": load_ms,
                     "local_sim": "ttft_ms=50,tps=60,reply_tokens=32,slots=4",
                     "hosted_sim": "ttft_ms=300,tps=60,reply_tokens=32,slots=256", "preloaded": "a"},
           "wall_s": round(wall, 1), "arms": {}}
    for arm, info in arms.items():
        counters = C.http_json(info["port"], "/admin/models")["counters"]
        m1 = C.scrape_metrics(info["port"])
        c0, m0 = before[arm]
        rs = [x for x in results[arm] if x is not None]
        ok = [x for x in rs if x["status"] == 200 and x["done"] and not x["error"]]
        riw = lambda m: C.metric(m, "swapgate_remote_instead_of_wait_total") or 0
        per_model = {}
        for model in ("a", "b"):
            mine = [x for x in ok if x["model"] == model]
            per_model[model] = {"requests": len(mine), "remote": sum(1 for x in mine if x["remote"]),
                                "latency_p50_ms": C.pct(sorted(x["total_s"] * 1000 for x in mine), 50),
                                "latency_p95_ms": C.pct(sorted(x["total_s"] * 1000 for x in mine), 95)}
        out["arms"][arm] = {
            "max_local_wait": info["max_local_wait"],
            "requests": len(trace), "ok": len(ok), "errors": len(trace) - len(ok),
            "error_samples": [x["error"] or x["status"] for x in rs if x not in ok][:3],
            "latency_ms": C.summary([x["total_s"] * 1000 for x in ok], ps=(50, 95, 99)),
            "ttft_ms": C.summary([x["ttft_s"] * 1000 for x in ok if x["ttft_s"] is not None], ps=(50, 95, 99)),
            "remote": sum(1 for x in ok if x["remote"]),
            "remote_share": sum(1 for x in ok if x["remote"]) / len(ok) if ok else None,
            "skipped_remote_instead_of_wait_header": sum(1 for x in ok if x["skipped_remote"]),
            "remote_instead_of_wait_metric": riw(m1) - riw(m0),
            "swaps": counters.get("swaps", 0) - c0.get("swaps", 0),
            "loads": counters.get("loads", 0) - c0.get("loads", 0),
            "per_model": per_model,
            "route_samples": sorted({x["route"] for x in ok})[:6],
        }
        t = out["arms"][arm]
        C.log(f"  remote {arm:<6} (max_local_wait {info['max_local_wait']}): ok {len(ok)}/{len(trace)}  "
              f"p50 {fmt(t['latency_ms']['p50'], '.0f')} ms  p95 {fmt(t['latency_ms']['p95'], '.0f')} ms  "
              f"remote {t['remote']} ({fmt(t['remote_share'] and t['remote_share'] * 100, '.0f')}%)  "
              f"swaps {t['swaps']}  loads {t['loads']}")
    for arm, info in arms.items():
        ctx.procs.stop(info["proc"], grace=20)
        out["arms"][arm]["timeline"] = swap_timeline(ctx.procs.log_path(f"remote-swapgate-{arm}"), t0_wall)
    ctx.procs.stop(hosted)
    return out


def table_remote(rep):
    tr = rep["trace"]
    lines = [f"### 4. Wait or go remote: {tr['requests']} streamed requests over {tr['length_s']:g} s "
             f"(a {tr['per_model']['a']}, b {tr['per_model']['b']}), room for one model, "
             f"{rep['setup']['load_ms'] / 1000:g} s loads, hosted stand-in TTFT 300 ms", "",
             "| max_local_wait | p50 ms | p95 ms | p99 ms | max ms | TTFT p50 ms | TTFT p95 ms | a p50 / p95 ms | "
             "b p50 / p95 ms | sent remote | remote_instead_of_wait (metric) | swaps | loads | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for arm in ("wait", "mid", "remote"):
        if arm not in rep["arms"]:
            continue
        t = rep["arms"][arm]
        L, T = t["latency_ms"], t["ttft_ms"]
        lines.append(f"| {t['max_local_wait']} ({arm}) | {fmt(L['p50'], '.0f')} | {fmt(L['p95'], '.0f')} | "
                     f"{fmt(L['p99'], '.0f')} | {fmt(L['max'], '.0f')} | {fmt(T['p50'], '.0f')} | {fmt(T['p95'], '.0f')} | "
                     + " | ".join(f"{fmt(t['per_model'][m]['latency_p50_ms'], '.0f')} / "
                                  f"{fmt(t['per_model'][m]['latency_p95_ms'], '.0f')}" for m in ("a", "b")) + " | "
                     f"{t['remote']} ({fmt(t['remote_share'] and t['remote_share'] * 100, '.0f')}%) | "
                     f"{t['remote_instead_of_wait_metric']:.0f} | {t['swaps']} | {t['loads']} | {t['errors']} |")
    w, r = rep["arms"]["wait"]["latency_ms"], rep["arms"]["remote"]["latency_ms"]
    lines += ["", f"remote/wait: p50 {fmt(ratio(r['p50'], w['p50']), '.2f')}, p95 {fmt(ratio(r['p95'], w['p95']), '.2f')}."]
    return "\n".join(lines)


# ---- driver -----------------------------------------------------------------

class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run (< 1 min): fewer scenarios, rounds and requests")
    ap.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset of " + ",".join(BENCHMARKS))
    ap.add_argument("--bin", default=C.BIN_DIR, help="directory with swapgate, swapgate-sim, swapgate-bench")
    ap.add_argument("--out", help="JSON file (default bench/results/routing.json; --quick or --only a subset: "
                                  "the temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs)")
    ap.add_argument("--threads", type=int, default=1, help="swapgate I/O threads (default 1)")
    ap.add_argument("--rounds", type=int, help="rounds of batching and breaker (default 2 and 3; --quick 1)")
    ap.add_argument("--batch-duration", type=float, help="seconds per batching arm (default 3; --quick 1.5)")
    ap.add_argument("--batch-window", default="100ms", help="batch.window (default 100ms, swapgate's default)")
    ap.add_argument("--coalesce-rounds", type=int, help="rounds per coalescing arm (default 5; --quick 2)")
    ap.add_argument("--breaker-requests", type=int, help="measured requests per breaker round (default 3000; --quick 500)")
    ap.add_argument("--remote-length", type=float, help="seconds of the wait-or-remote trace (default 40; --quick 10)")
    args = ap.parse_args()
    wanted = [x.strip() for x in args.only.split(",") if x.strip()]
    for w in wanted:
        if w not in BENCHMARKS:
            ap.error(f"--only: unknown benchmark '{w}' (known: {', '.join(BENCHMARKS)})")
    C.install_signal_handlers()
    C.nice_at_least(5)
    tmp = tempfile.mkdtemp(prefix="swapgate-routingbench-")
    # Only a full run of everything replaces bench/results/routing.json.
    partial = args.quick or set(wanted) != set(BENCHMARKS)
    out_path = args.out or (os.path.join(tmp, "routing.json") if partial
                            else os.path.join(C.ROOT, "bench", "results", "routing.json"))
    ctx = Ctx()
    ctx.args, ctx.tmp = args, tmp
    t_all = time.time()
    report = {"tool": "bench/routing/run.py", "quick": args.quick, "commit": C.git_commit(),
              "machine": {"cores": os.cpu_count(), "loadavg_start": os.getloadavg()},
              "swapgate_threads": args.threads, "benchmarks": {}}
    failed = {}
    try:
        ctx.bins = C.snapshot_binaries(("swapgate", "swapgate-sim", "swapgate-bench"), os.path.join(tmp, "bin"),
                                       bin_dir=args.bin)
        report["binaries"] = {k: C.binary_info(os.path.join(args.bin, k)) for k in ctx.bins}
        with C.Processes(tmp) as procs:
            ctx.procs = procs
            runners = {"batching": bench_batching, "coalescing": bench_coalescing, "breaker": bench_breaker,
                       "remote": bench_remote}
            for name in BENCHMARKS:
                if name not in wanted:
                    continue
                t0 = time.time()
                C.log(f"{name} ...")
                try:
                    report["benchmarks"][name] = runners[name](ctx)
                    report["benchmarks"][name]["wall_s"] = round(time.time() - t0, 1)
                except Exception as e:  # noqa: BLE001 (Ctrl-C and SIGTERM are not Exceptions: they stop the run)
                    # One benchmark failing (a binary mid-rebuild, a port taken) does not lose the others.
                    failed[name] = f"{type(e).__name__}: {e}"
                    C.log(f"{name} FAILED: {failed[name]}")
                    procs.stop_all()
                C.log(f"{name}: {time.time() - t0:.0f} s")
    except BaseException:
        C.log(f"interrupted; logs in {tmp}")
        raise
    report["failed"] = failed
    report["machine"]["loadavg_end"] = os.getloadavg()
    report["wall_s"] = round(time.time() - t_all, 1)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(report, f, indent=1)
    print(markdown(report))
    C.log(f"total {report['wall_s']:.0f} s; wrote {out_path}")
    if args.keep or failed or os.path.abspath(out_path).startswith(tmp + os.sep):
        C.log(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


def markdown(report):
    parts = []
    b = report["benchmarks"]
    tables = {"batching": table_batching, "coalescing": table_coalescing, "breaker": table_breaker,
              "remote": table_remote}
    for name in BENCHMARKS:
        if name in b:
            parts.append(tables[name](b[name]))
        elif name in report.get("failed", {}):
            parts.append(f"### {name}: FAILED\n\n{report['failed'][name]}")
    return "\n\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
