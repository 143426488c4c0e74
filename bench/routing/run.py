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
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
from batching import bench_batching, table_batching  # noqa: E402
from breaker import bench_breaker, table_breaker  # noqa: E402
from coalescing import bench_coalescing, table_coalescing  # noqa: E402
from remote import bench_remote, table_remote  # noqa: E402

BENCHMARKS = ("batching", "coalescing", "breaker", "remote")
TARGET_BATCH_RATIO = 3.0
TARGET_ADDED_P99_MS = 1.0


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
