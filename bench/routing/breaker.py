"""A dead primary behind an open breaker: the latency it adds (c=1). Run through bench/routing/run.py."""
import os

import common as C  # noqa: E402  (bench/common.py; helpers.py put bench/ on sys.path)
from helpers import fmt, TARGET_ADDED_P99_MS


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
