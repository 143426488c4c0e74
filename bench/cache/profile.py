#!/usr/bin/env python3
"""Where swapgate's CPU goes on a cache hit (or a miss): perf profile of one target of
bench/cache/run.py, classified into cache work, syscalls and the rest.

Starts the same processes as run.py (swapgate on core 0; swapgate-sim, redis-server and
swapgate-bench on core 1; nice 5), warms the cache, then records swapgate with
`perf record --call-graph dwarf` during one swapgate-bench invocation and prints each
component's share of swapgate's samples and its CPU in µs per request (share × swapgate's
on-CPU time from /proc/PID/task/*/schedstat / requests).

    python3 bench/cache/profile.py --target hit-memory --concurrency 64
    python3 bench/cache/profile.py --target hit-redis --concurrency 1 --requests 5000
    python3 bench/cache/profile.py --target miss --concurrency 64 --stream

Needs `perf` (linux-perf) and permission to profile (root, or perf_event_paranoid <= 1).
"""
import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the benchmark driver: process start-up helpers)

# A sample belongs to the first of these functions found anywhere on its stack (they are
# plain functions, not coroutines, so the stack says who called them).
CACHE_FUNCS = [
    ("cache: decode stored record (json::parse + recorder)", "swapgate::cache::deserialize_record"),
    ("cache: build reply object (to_response_json / to_sse_events)", "swapgate::cache::to_response_json"),
    ("cache: build reply object (to_response_json / to_sse_events)", "swapgate::cache::to_sse_events"),
    ("cache: key (canonical form + XXH3-128)", "swapgate::cache::request_key"),
    ("cache: eligibility", "swapgate::cache::decide"),
    ("cache: in-process store", "lru_store"),
]


def classify(lines):
    """lines: `perf script -F ip,sym` frames of one sample, leaf first."""
    frames = [l.split(" ", 1)[-1] for l in lines]
    for name, key in CACHE_FUNCS:
        if any(key in f for f in frames):
            return name
    for i, f in enumerate(frames):
        if "swapgate::proxy::cache_prepare" in f:
            inner = frames[:i]
            if any("nlohmann" in x and "parse" in x for x in inner) and not any("swapgate::" in x for x in inner):
                return "cache: parse the request body (json::parse)"
            break
    if any("json_abi" in f and ("dump" in f or "serializer" in f) for f in frames[:6]):
        return "json dump (the reply text of a hit)"
    # Syscalls, named by their libc wrapper: under a paravirtualised guest (PVM) most kernel
    # samples land on pvm_irq_enable at syscall entry/exit or under the loopback delivery
    # and the wake-up of the peer that a send does.
    for l, f in zip(lines, frames):
        if l.startswith("ffffffff"):
            continue
        if re.search(r"recv|__libc_read", f):
            return "syscalls: recv"
        if re.search(r"send|__libc_write|writev", f):
            return "syscalls: send (incl. loopback delivery, waking the peer)"
        if "epoll_wait" in f:
            return "syscalls: epoll_wait"
        if re.search(r"epoll_ctl|timerfd|accept|shutdown|close|__GI_", f):
            return "syscalls: other"
        break
    if lines[0].startswith("ffffffff"):
        return "kernel: other"
    leaf = frames[0]
    if "nlohmann" in leaf:
        return "json (other)"
    if re.search(r"malloc|free|_int_|operator new|operator delete|tcache", leaf):
        return "malloc/free"
    if "beast" in leaf:
        return "beast (HTTP parse/serialise)"
    if "asio" in leaf:
        return "asio (event loop, coroutines)"
    return "other user code"


def breakdown(perf_data):
    out = subprocess.run(["perf", "script", "-i", perf_data, "-F", "ip,sym"], capture_output=True, text=True).stdout
    counts = collections.Counter()
    for block in out.split("\n\n"):
        lines = [l.strip() for l in block.strip().splitlines() if l.strip()]
        if lines:
            counts[classify(lines)] += 1
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(run.ROOT, "build", "bin"))
    ap.add_argument("--target", choices=("hit-redis", "hit-memory", "miss"), default="hit-redis")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--freq", type=int, default=1999, help="perf sampling frequency (Hz)")
    ap.add_argument("--json", help="also write the breakdown here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (perf.data, logs)")
    args = ap.parse_args()
    if not shutil.which("perf"):
        sys.exit("perf not found")
    cur = os.nice(0)
    if cur < 5:
        os.nice(5 - cur)
    pin = os.cpu_count() >= 2
    tmp = tempfile.mkdtemp(prefix="swapgate-cacheprof-")
    procs, logs = [], []

    def logfile(name):
        f = open(os.path.join(tmp, name + ".log"), "w")
        logs.append(f)
        return f

    try:
        sim, sim_port = run.start([os.path.join(args.bin, "swapgate-sim"), "--listen", "127.0.0.1:0", "--quiet",
                                   "--model", "bench,slots=256,ttft_ms=0,tps=0,reply_tokens=16"],
                                  run.LOAD_CPU, pin, logfile("sim"))
        procs.append(sim)
        redis_url = None
        if args.target == "hit-redis":
            redis_port = run.free_port()
            redis, _ = run.start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"], run.LOAD_CPU, pin, logfile("redis"), wait_listen=False)
            procs.append(redis)
            run.wait_port(redis_port)
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
        cfg = os.path.join(tmp, "swapgate.yaml")
        with open(cfg, "w") as f:
            f.write(run.swapgate_config(sim_port, redis_url))
        sg, sg_port = run.start([os.path.join(args.bin, "swapgate"), "--config", cfg], run.PROXY_CPU, pin,
                                logfile("swapgate"))
        procs.append(sg)
        model = "uncached" if args.target == "miss" else "cached"
        bench_json = os.path.join(tmp, "b.json")

        def bench_argv(n):
            argv = [os.path.join(args.bin, "swapgate-bench"), "--url", f"http://127.0.0.1:{sg_port}/v1",
                    "--model", model, "--concurrency", str(args.concurrency), "--requests", str(n),
                    "--warmup", "0", "--repeat-share", "1.0", "--repeat-pool", "8", "--seed", "7",
                    "--prompt-words", "16", "--max-tokens", "16", "--extra", json.dumps({"temperature": 0}),
                    "--quiet", "--json", bench_json] + (["--stream"] if args.stream else [])
            return run.nice_argv(argv, run.LOAD_CPU, pin)

        subprocess.run(bench_argv(max(1000, args.requests // 5)), check=True, stdout=subprocess.DEVNULL)
        perf_data = os.path.join(tmp, "perf.data")
        ns0 = run.cpu_ns(sg.pid)
        subprocess.run(["perf", "record", "-q", "-F", str(args.freq), "--call-graph", "dwarf,32768", "-p", str(sg.pid),
                        "-o", perf_data, "--"] + bench_argv(args.requests), check=True, stdout=subprocess.DEVNULL)
        ns1 = run.cpu_ns(sg.pid)
        with open(bench_json) as f:
            res = json.load(f)["targets"][0]
    finally:
        run.stop_processes(procs)
        for f in logs:
            f.close()

    counts = breakdown(perf_data)
    total = sum(counts.values())
    # perf's own overhead inflates on-CPU time a little; the shares are what matter.
    us_per_req = (ns1 - ns0) / 1e3 / args.requests
    title = (f"{args.target}, {'stream' if args.stream else 'non-stream'}, c={args.concurrency}: "
             f"{res['throughput_rps']:.0f} req/s, p50 {res['latency_ms']['p50'] * 1000:.1f} µs (under perf), "
             f"swapgate on-CPU {us_per_req:.1f} µs/req, {total} samples, cache {res.get('cache')}")
    print(title)
    print("| component | share | µs/req |")
    print("|---|---:|---:|")
    rows = []
    for k, v in counts.most_common():
        rows.append({"component": k, "share": v / total, "us_per_req": v / total * us_per_req})
        print(f"| {k} | {100 * v / total:.1f}% | {v / total * us_per_req:.1f} |")
    cache_share = sum(v for k, v in counts.items() if k.startswith("cache:") or k.startswith("json dump")) / total
    print(f"\ncache work (cache:* + json dump): {100 * cache_share:.1f}% = {cache_share * us_per_req:.1f} µs/req")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"title": title, "swapgate_cpu_us_per_req": us_per_req, "samples": total, "rows": rows}, f, indent=2)
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
