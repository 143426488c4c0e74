"""Wait or go remote: a swapping trace with max_local_wait large, 5 s and 1 s. Run through bench/routing/run.py."""
import datetime
import json
import random
import threading
import time

import common as C  # noqa: E402  (bench/common.py; helpers.py put bench/ on sys.path)
from helpers import fmt, ratio, stream_chat


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
