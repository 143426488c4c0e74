#!/usr/bin/env python3
"""Trace generators for the scheduling benchmark, ported from routing/scheduler_sim.cpp.

`zipf_burst_trace` and `agent_trace` reproduce the C++ generators bit for bit (same
splitmix64 stream, same draw order, same truncation to whole milliseconds), so a trace
here is the trace the pure simulation replays for the same arguments. Times are in
milliseconds, models are indices (0 = 'A' = the most popular).

`to_jsonl` turns a trace into swapgate-bench `--trace` lines: streaming chat requests
whose reply length fixes the service time on a swapgate-sim model (`sim.tokens` =
service x tokens per second).

    python3 bench/scheduling/traces.py zipf --seed 42 --models 5 --length-s 60 > a.jsonl
    python3 bench/scheduling/traces.py agents --pattern ABAACABC --repeats 5 --agents 3 > b.jsonl
"""
import argparse
import json
import math
import sys

MASK = (1 << 64) - 1


class Rng:
    """splitmix64, as `rng` in routing/scheduler_sim.cpp."""

    def __init__(self, seed):
        self.s = seed & MASK

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53


def zipf_burst_trace(seed, model_count, zipf_s, rate_per_s, burst_every_ms, burst_size, length_ms,
                     service_min_ms, service_max_ms):
    """Zipf(s) popularity over `model_count` models: a Poisson background of `rate_per_s`
    plus, every `burst_every_ms`, `burst_size` requests within 500 ms for one Zipf-drawn
    model. Returns [(at_ms, model, service_ms)] sorted by arrival (stable)."""
    g = Rng(seed)
    weights = [1.0 / math.pow(k + 1, zipf_s) for k in range(model_count)]
    total = sum(weights)  # same summation order as the C++ loop
    cdf, acc = [], 0.0
    for w in weights:
        acc += w / total
        cdf.append(acc)

    def pick():
        u = g.uniform()
        for k, c in enumerate(cdf):  # std::lower_bound: first c >= u
            if c >= u:
                return k
        return model_count - 1

    def service():
        return service_min_ms + int(g.uniform() * (service_max_ms - service_min_ms))

    out = []
    if rate_per_s > 0:
        t = 0.0
        while True:
            t += -math.log(1.0 - g.uniform()) / rate_per_s * 1000.0
            if t >= length_ms:
                break
            m = pick()  # argument evaluation order of the C++ braced init: at, pick(), service()
            out.append((int(t), m, service()))
    if burst_every_ms > 0:
        b = burst_every_ms
        while b < length_ms:
            m = pick()
            for _ in range(burst_size):
                at = b + int(g.uniform() * 500)
                out.append((at, m, service()))
            b += burst_every_ms
    out.sort(key=lambda r: r[0])  # Python's sort is stable, like std::stable_sort
    return out


def agent_trace(pattern, repeats, agents, think_ms, service_ms):
    """Agents replaying `pattern` ('A' = model 0, spaces ignored) `repeats` times; each
    agent sends its next request `think_ms` after the previous one arrived; agents start
    think/agents apart."""
    seq = [ord(c) - ord("A") for c in pattern if "A" <= c <= "Z"]
    out = []
    for a in range(agents):
        t = think_ms * a // max(1, agents)
        for _ in range(repeats):
            for m in seq:
                out.append((t, m, service_ms))
                t += think_ms
    out.sort(key=lambda r: r[0])
    return out


def to_jsonl(trace, model_names, tps, tag):
    """swapgate-bench trace lines: streaming chat, reply length = service x tps tokens."""
    lines = []
    for i, (at_ms, m, service_ms) in enumerate(trace):
        tokens = max(1, round(service_ms / 1000.0 * tps))
        lines.append(json.dumps({
            "t": round(at_ms / 1000.0, 3),
            "model": model_names[m],
            "messages": [{"role": "user", "content": f"{tag} request {i} for {model_names[m]}"}],
            "stream": True,
            "extra": {"sim": {"tokens": tokens}},
        }, separators=(",", ":")))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="kind", required=True)
    z = sub.add_parser("zipf")
    z.add_argument("--seed", type=int, default=42)
    z.add_argument("--models", type=int, default=5)
    z.add_argument("--zipf-s", type=float, default=1.2)
    z.add_argument("--rate", type=float, default=1.0)
    z.add_argument("--burst-every-ms", type=int, default=10000)
    z.add_argument("--burst-size", type=int, default=8)
    z.add_argument("--length-s", type=float, default=60)
    z.add_argument("--service-ms", default="500-3000")
    a = sub.add_parser("agents")
    a.add_argument("--pattern", default="ABAACABC")
    a.add_argument("--repeats", type=int, default=5)
    a.add_argument("--agents", type=int, default=3)
    a.add_argument("--think-ms", type=int, default=1500)
    a.add_argument("--service-ms", type=int, default=1000)
    for p in (z, a):
        p.add_argument("--tps", type=float, default=50, help="tokens per second of the sim models")
        p.add_argument("--raw", action="store_true", help="print at_ms model service_ms instead of JSONL")
    args = ap.parse_args()
    if args.kind == "zipf":
        lo, hi = (int(x) for x in args.service_ms.split("-"))
        tr = zipf_burst_trace(args.seed, args.models, args.zipf_s, args.rate, args.burst_every_ms,
                              args.burst_size, int(args.length_s * 1000), lo, hi)
        names = [f"m{k}" for k in range(args.models)]
    else:
        tr = agent_trace(args.pattern, args.repeats, args.agents, args.think_ms, args.service_ms)
        names = [chr(ord("a") + k) for k in range(26)]
    if args.raw:
        for r in tr:
            print(*r)
    else:
        sys.stdout.write(to_jsonl(tr, names, args.tps, args.kind))


if __name__ == "__main__":
    main()
