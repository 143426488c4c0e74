"""Coalescing: 32 identical concurrent streams, routing.coalesce true vs false. Run through bench/routing/run.py."""
import os
import random
import threading
import time

import common as C  # noqa: E402  (bench/common.py; helpers.py put bench/ on sys.path)
from helpers import fmt, to_ms, delta_stats, stream_chat


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
