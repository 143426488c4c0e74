#!/usr/bin/env python3
"""Scheduling-quality benchmark: the shipped `value` policy against `fifo` and `lru`.

Traces (bench/scheduling/traces.py, ports of the routing/scheduler_sim.cpp generators)
are replayed by swapgate-bench (`--trace`, open loop, streaming) against a fresh
swapgate per run whose models are `process` models: each is a swapgate-sim started on
demand with `loaded=1,load_ms=N` (its /health answers 503 until the load time passed)
and stopped on unload. Scenarios x budgets (room for 1 model, room for 2) x policies.

Per run: swapgate-bench's JSON (client side: errors, throughput, p50/p90/p99/max
latency and TTFT), swapgate's GET /admin/models right after the replay (swaps, loads,
loads that served fewer than 2 requests, serving share) and swapgate's stderr log
(per-request duration and time to first byte, from which p95 is computed because
swapgate-bench does not report it; load/unload events with their reasons).

Writes bench/results/scheduling.json and prints one Markdown table per scenario and
budget. All processes run under `nice -n 5`.
"""
import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import traces  # noqa: E402
sys.path.insert(0, os.path.dirname(HERE))
from common import popen_listening  # noqa: E402  (helpers shared by the bench drivers)

POLICIES = ["value", "fifo", "lru"]
MODEL_MB = 4000
BUDGETS = {"fits-1": 5000, "fits-2": 9000}  # room for one / two 4000 MB models
TPS = 50                                    # sim tokens per second: service 1 s = 50 tokens
SLOTS = 4


def scenarios(quick):
    """Each: models [(name, load_ms)], the trace [(at_ms, model, service_ms)], budgets.

    The shapes are those of tests/routing/scheduler_sim_test.cpp with the loads cut to
    1.5-3 s and the traces cut to about a minute (see README.md for what changed)."""
    q = quick
    return [
        {"name": "zipf",
         "title": "(a) Zipf(1.2) over 5 models, Poisson 0.5/s + bursts of 8 every 15 s",
         "models": [("m0", 1500), ("m1", 2000), ("m2", 2500), ("m3", 3000), ("m4", 3000)],
         "trace_args": dict(seed=42, model_count=5, zipf_s=1.2, rate_per_s=0.5, burst_every_ms=15000,
                            burst_size=8, length_ms=20000 if q else 60000, service_min_ms=500,
                            service_max_ms=3000),
         "gen": "zipf", "budgets": ["fits-1"] if q else ["fits-1", "fits-2"]},
        {"name": "agents",
         "title": "(b) 3 agents replaying A B A A C A B C, one request every 3 s each",
         "models": [("a", 2000), ("b", 2000), ("c", 2000)],
         "trace_args": dict(pattern="ABAACABC", repeats=1 if q else 2, agents=3, think_ms=3000,
                            service_ms=2000),
         "gen": "agents", "budgets": ["fits-1"] if q else ["fits-1", "fits-2"]},
        {"name": "single",
         "title": "(c) one model, Poisson 1/s + bursts of 5 every 10 s (no regression)",
         "models": [("solo", 2000)],
         "trace_args": dict(seed=7, model_count=1, zipf_s=1.0, rate_per_s=1.0, burst_every_ms=10000,
                            burst_size=5, length_ms=10000 if q else 20000, service_min_ms=200,
                            service_max_ms=2000),
         "gen": "zipf", "budgets": ["fits-1"]},
    ]


def make_trace(sc):
    if sc["gen"] == "zipf":
        return traces.zipf_burst_trace(**sc["trace_args"])
    return traces.agent_trace(**sc["trace_args"])


def write_config(path, sim_bin, sc, budget_mb, policy):
    lines = ["listen: 127.0.0.1:0", "log: {requests: true}",
             "devices:", f"  gpu0: {{budget_mb: {budget_mb}}}",
             f"scheduler: {{policy: {policy}}}", "models:"]
    for name, load_ms in sc["models"]:
        cmd = (f"{sim_bin} --listen 127.0.0.1:${{PORT}} --model {name},load_ms={load_ms},loaded=1,"
               f"tps={TPS},slots={SLOTS},memory_mb={MODEL_MB} --quiet")
        lines += [f"  - name: {name}",
                  "    driver: process",
                  f'    command: "{cmd}"',
                  f"    memory_mb: {MODEL_MB}",
                  f"    load_cost: {load_ms}ms",   # the prior matches the truth; learned after the first load
                  f"    slots: {SLOTS}",
                  "    max_queue: 1000",           # no 429/503 in any policy: every request is measured
                  "    queue_timeout: 600s"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def start_swapgate(bin_dir, cfg, log_path):
    log = open(log_path, "w")
    try:
        return popen_listening(["nice", "-n", "5", os.path.join(bin_dir, "swapgate"), "--config", cfg], stderr=log)
    except RuntimeError:
        raise RuntimeError("swapgate did not start; see " + log_path) from None


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def admin_models(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/models", timeout=10) as r:
        return json.load(r)


def pct(sorted_xs, p):
    """Nearest rank, as swapgate-bench: x[ceil(p/100 n)], clamped to [1, n]."""
    if not sorted_xs:
        return None
    k = min(max(math.ceil(p / 100.0 * len(sorted_xs) - 1e-9), 1), len(sorted_xs))
    return sorted_xs[k - 1]


def summary(xs):
    xs = sorted(xs)
    if not xs:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {"count": len(xs), "p50": pct(xs, 50), "p95": pct(xs, 95), "p99": pct(xs, 99),
            "max": xs[-1], "mean": sum(xs) / len(xs)}


def ts_seconds(ts):
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def parse_log(path):
    """Request lines of the replay and the swap events (load/loaded/unload) of the run."""
    reqs, events = [], []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue  # "[m0] ..." lines relayed from the sim children
            try:
                j = json.loads(line)
            except ValueError:
                continue
            ev = j.get("event")
            if ev == "request" and j.get("path") == "/v1/chat/completions":
                reqs.append(j)
            elif ev in ("load", "loaded", "unload", "load_failed", "crash"):
                msg = j.get("message", "")
                if ev == "load" and "starting" in msg:
                    continue
                m = re.match(r"model '([^']+)'(?::)? ?(.*)", msg)
                events.append({"t": ts_seconds(j["ts"]), "event": ev, "model": m.group(1) if m else "",
                               "detail": m.group(2) if m else msg})
    return reqs, events


def run_one(args, sc, budget, policy, trace_path, n_requests, tmp):
    tag = f"{sc['name']}-{budget}-{policy}"
    cfg = os.path.join(tmp, tag + ".yaml")
    log_path = os.path.join(tmp, tag + ".log")
    bench_json = os.path.join(tmp, tag + ".bench.json")
    write_config(cfg, os.path.join(args.bin, "swapgate-sim"), sc, BUDGETS[budget], policy)
    t_start = time.time()
    sg, port = start_swapgate(args.bin, cfg, log_path)
    try:
        subprocess.run(["nice", "-n", "5", os.path.join(args.bin, "swapgate-bench"),
                        "--url", f"http://127.0.0.1:{port}/v1", "--trace", trace_path, "--include-usage",
                        "--timeout", "900", "--max-inflight", "4096", "--quiet", "--json", bench_json],
                       check=True, stdout=subprocess.DEVNULL)
        adm = admin_models(port)
    finally:
        stop(sg)
    wall = time.time() - t_start
    with open(bench_json) as f:
        bench = json.load(f)["targets"][0]
    reqs, events = parse_log(log_path)
    ok = [r for r in reqs if r.get("status") == 200 and not r.get("error")]
    lat = summary([r["duration_ms"] for r in ok])
    ttft = summary([r["ttfb_ms"] for r in ok if r.get("ttfb_ms", -1) >= 0])
    per_model = {}
    for name, _ in sc["models"]:
        mine = [r for r in ok if r.get("model") == name]
        s = summary([r["duration_ms"] for r in mine])
        per_model[name] = {"requests": len(mine), "latency_p50_ms": s["p50"], "latency_p95_ms": s["p95"],
                           "latency_max_ms": s["max"]}
    k = adm["counters"]
    t0 = t_start  # event times are relative to the start of this swapgate
    timeline = [{"t_s": round(e["t"] - t0, 3), "event": e["event"], "model": e["model"], "detail": e["detail"]}
                for e in events]
    unload_reasons = {}
    for e in events:
        if e["event"] == "unload":
            m = re.search(r"\(([^)]*)\)", e["detail"])
            r = m.group(1) if m else "?"
            unload_reasons[r] = unload_reasons.get(r, 0) + 1
    requests = bench["requests"]
    # The log's figures are the proxy's view; the client's (swapgate-bench) must agree within a few ms.
    check = max(abs(a[k] - b[k]) for a, b in ((lat, bench["latency_ms"]), (ttft, bench["ttft_ms"]))
                for k in ("p50", "p99", "max") if a[k] is not None and b[k] is not None) if ok else 0.0
    if check > 50:
        print(f"  warning: {tag}: swapgate log and swapgate-bench percentiles differ by {check:.0f} ms",
              file=sys.stderr)
    res = {
        "scenario": sc["name"], "budget": budget, "budget_mb": BUDGETS[budget], "policy": policy,
        "trace_requests": n_requests, "requests": requests, "ok": bench["ok"],
        "errors": requests - bench["ok"], "error_kinds": bench.get("errors", {}),
        "loads": k["loads"], "swaps": k["swaps"], "unloads": k["unloads"],
        "swaps_per_1000": 1000.0 * k["swaps"] / requests if requests else None,
        "loads_serving_under_2": k["loads_serving_under_2"],
        "rejected": k["rejected_429"] + k["rejected_503"],
        "latency_ms": lat, "ttft_ms": ttft,
        "longest_wait_ms": lat["max"],
        "throughput_rps": bench["throughput_rps"], "output_tokens_per_s": bench["output_tokens_per_s"],
        "duration_s": bench["duration_s"],
        "serving_share": adm["usage"]["serving_share"],
        "resident_share": adm["usage"]["resident_mb_seconds"] / adm["usage"]["budget_mb_seconds"]
        if adm["usage"]["budget_mb_seconds"] else None,
        "bench": {"latency_ms": bench["latency_ms"], "ttft_ms": bench["ttft_ms"]},
        "log_vs_client_max_diff_ms": round(check, 1),
        "per_model": per_model, "unload_reasons": unload_reasons,
        "admin_counters": k, "timeline": timeline, "wall_s": round(wall, 1),
    }
    print(f"  {tag:<22} {requests} req, {res['errors']} err, swaps {k['swaps']}, loads {k['loads']} "
          f"(<2 served: {k['loads_serving_under_2']}), p95 {fmt_ms(lat['p95'])}, max {fmt_ms(lat['max'])}, "
          f"wall {wall:.0f} s", file=sys.stderr, flush=True)
    return res


def fmt_ms(x):
    if x is None:
        return "-"
    return f"{x:.0f} ms" if x < 1000 else f"{x / 1000:.2f} s"


def ratio(a, b):
    if a is None or b is None:
        return None
    if b == 0:
        return None if a == 0 else math.inf
    return a / b


def fmt_ratio(r):
    if r is None:
        return "-"
    if r == math.inf:
        return "inf"
    return f"{r:.2f}"


ROWS = [
    ("requests (errors)", lambda r: f"{r['requests']} ({r['errors']})", None),
    ("swaps / 1000 req", lambda r: f"{r['swaps_per_1000']:.0f}", lambda r: r["swaps_per_1000"]),
    ("loads (served < 2)", lambda r: f"{r['loads']} ({r['loads_serving_under_2']})", lambda r: r["loads"]),
    ("latency p50", lambda r: fmt_ms(r["latency_ms"]["p50"]), lambda r: r["latency_ms"]["p50"]),
    ("latency p95", lambda r: fmt_ms(r["latency_ms"]["p95"]), lambda r: r["latency_ms"]["p95"]),
    ("latency p99", lambda r: fmt_ms(r["latency_ms"]["p99"]), lambda r: r["latency_ms"]["p99"]),
    ("TTFT p50", lambda r: fmt_ms(r["ttft_ms"]["p50"]), lambda r: r["ttft_ms"]["p50"]),
    ("TTFT p95", lambda r: fmt_ms(r["ttft_ms"]["p95"]), lambda r: r["ttft_ms"]["p95"]),
    ("TTFT p99", lambda r: fmt_ms(r["ttft_ms"]["p99"]), lambda r: r["ttft_ms"]["p99"]),
    ("longest wait (max latency)", lambda r: fmt_ms(r["longest_wait_ms"]), lambda r: r["longest_wait_ms"]),
    ("throughput req/s", lambda r: f"{r['throughput_rps']:.2f}", lambda r: r["throughput_rps"]),
    ("serving share", lambda r: f"{r['serving_share']:.2f}", lambda r: r["serving_share"]),
]


def targets(runs):
    """Issue 5 targets for one scenario x budget: vs fifo and vs lru."""
    v = runs.get("value")
    out = {}
    for base in ("fifo", "lru"):
        b = runs.get(base)
        if not v or not b:
            continue
        out[base] = {
            "swaps_2x_fewer": v["swaps"] * 2 <= b["swaps"] and (b["swaps"] > 0 or v["swaps"] == 0),
            "p95_30pct_lower": v["latency_ms"]["p95"] is not None and b["latency_ms"]["p95"] is not None
            and v["latency_ms"]["p95"] <= 0.7 * b["latency_ms"]["p95"],
            "longest_wait_no_worse": v["longest_wait_ms"] is not None and b["longest_wait_ms"] is not None
            and v["longest_wait_ms"] <= b["longest_wait_ms"],
        }
        out[base]["met"] = all(out[base].values())
    return out


def markdown(report):
    lines = []
    for group in report["groups"]:
        runs = {r["policy"]: r for r in group["runs"]}
        pols = [p for p in POLICIES if p in runs]
        lines.append(f"#### {group['title']}: budget {group['budget']} ({group['budget_mb']} MB, "
                     f"{MODEL_MB} MB models), {group['trace_requests']} requests")
        lines.append("")
        hdr = "| metric | " + " | ".join(pols)
        sep = "|---|" + "---:|" * len(pols)
        if "value" in runs:
            others = [p for p in pols if p != "value"]
            hdr += "".join(f" | value/{p}" for p in others)
            sep += "---:|" * len(others)
        lines += [hdr + " |", sep]
        for label, show, num in ROWS:
            row = f"| {label} | " + " | ".join(show(runs[p]) for p in pols)
            if "value" in runs:
                for p in pols:
                    if p != "value":
                        row += " | " + ("" if num is None else fmt_ratio(ratio(num(runs["value"]), num(runs[p]))))
            lines.append(row + " |")
        if group.get("targets"):
            parts = []
            for base, t in group["targets"].items():
                bits = [("swaps ≥2x fewer", t["swaps_2x_fewer"]), ("p95 ≥30% lower", t["p95_30pct_lower"]),
                        ("longest wait ≤", t["longest_wait_no_worse"])]
                parts.append(f"vs {base}: " + ", ".join(f"{n} {'yes' if ok else 'NO'}" for n, ok in bits))
            lines.append("")
            lines.append("Targets: " + "; ".join(parts) + ".")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--quick", action="store_true", help="short traces, room-for-1 budget only (smoke run, ~3 min)")
    ap.add_argument("--scenarios", default="zipf,agents,single", help="comma-separated subset")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--out", default=None, help="default bench/results/scheduling.json "
                                                "(with --quick: scheduling-quick.json in the --keep/temp dir)")
    ap.add_argument("--keep", default=None, help="directory for configs, traces, logs (default: a temp dir)")
    args = ap.parse_args()
    tmp = args.keep or tempfile.mkdtemp(prefix="swapgate-scheduling-")
    os.makedirs(tmp, exist_ok=True)
    out = args.out or (os.path.join(tmp, "scheduling-quick.json") if args.quick
                       else os.path.join(ROOT, "bench", "results", "scheduling.json"))
    wanted = args.scenarios.split(",")
    policies = args.policies.split(",")
    t_all = time.time()
    groups = []
    for sc in scenarios(args.quick):
        if sc["name"] not in wanted:
            continue
        tr = make_trace(sc)
        names = [n for n, _ in sc["models"]]
        trace_path = os.path.join(tmp, sc["name"] + ".jsonl")
        with open(trace_path, "w") as f:
            f.write(traces.to_jsonl(tr, names, TPS, sc["name"]))
        counts = {n: 0 for n in names}
        for _, m, _ in tr:
            counts[names[m]] += 1
        span = tr[-1][0] / 1000.0 if tr else 0
        print(f"{sc['name']}: {len(tr)} requests over {span:.0f} s, per model {counts}", file=sys.stderr)
        for budget in sc["budgets"]:
            runs = [run_one(args, sc, budget, p, trace_path, len(tr), tmp) for p in policies]
            g = {"scenario": sc["name"], "title": sc["title"], "budget": budget, "budget_mb": BUDGETS[budget],
                 "models": [{"name": n, "load_ms": l, "memory_mb": MODEL_MB} for n, l in sc["models"]],
                 "trace": {"generator": sc["gen"], "args": sc["trace_args"], "requests": len(tr),
                           "span_s": span, "per_model": counts},
                 "trace_requests": len(tr), "runs": runs}
            if sc["name"] != "single":
                g["targets"] = targets({r["policy"]: r for r in runs})
            groups.append(g)
    report = {"tool": "bench/scheduling/run.py", "quick": args.quick,
              "machine": {"cores": os.cpu_count()},
              "setup": {"model_mb": MODEL_MB, "budgets_mb": BUDGETS, "sim_tps": TPS, "slots": SLOTS,
                        "stream": True, "sim_ttft_ms": 0,
                        "latency_source": "swapgate request log (duration_ms, ttfb_ms); swapgate-bench "
                                          "client figures under runs[].bench"},
              "wall_s": round(time.time() - t_all, 1), "groups": groups}
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    print(markdown(report))
    print(f"total wall time {report['wall_s']:.0f} s; wrote {out}; logs in {tmp}", file=sys.stderr)


if __name__ == "__main__":
    main()
