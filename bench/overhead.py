#!/usr/bin/env python3
"""Proxy overhead benchmark: direct to swapgate-sim vs through nginx vs through swapgate.

On loopback, in one run: swapgate-sim and swapgate-bench are pinned to one core, the
proxy under test (nginx with one worker, or swapgate with one thread) to the other.
Scenarios: non-stream short replies at concurrency 1 and 64, streams of 20 tokens at 1
and 32. Each scenario runs direct, nginx, swapgate in turn, `--rounds` times; figures are
medians over rounds. Proxy CPU per request comes from /proc utime+stime over its runs,
RSS from /proc VmRSS (idle) and VmHWM (peak).

Writes bench/results/overhead.json and prints a Markdown table.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, popen_listening, stop_processes, wait_port  # noqa: E402  (helpers shared by the bench drivers)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def start(argv, cpu, env=None, wait_port=True):
    """Starts a server pinned to `cpu`; returns (process, port) once it reports listening."""
    argv = ["taskset", "-c", str(cpu)] + argv
    if not wait_port:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True), None
    return popen_listening(argv, env=env)


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except FileNotFoundError:
            pass
    return total


def rss_kb(pids, key):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def children_of(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(x) for x in out]


def run_bench(bench, url, sc, cpu, tmp):
    out = os.path.join(tmp, "b.json")
    argv = ["taskset", "-c", str(cpu), bench, "--url", url, "--model", "bench-public",
            "--concurrency", str(sc["concurrency"]), "--requests", str(sc["requests"]),
            "--warmup", str(sc["warmup"]), "--quiet", "--json", out, "--seed", "7",
            "--prompt-words", "24", "--extra", json.dumps({"sim": sc["sim"]})]
    if sc["stream"]:
        argv.append("--stream")
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)["targets"][0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply request counts (e.g. 0.2 for a quick run)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "overhead.json"))
    args = ap.parse_args()
    if os.cpu_count() < 2:
        sys.exit("needs at least 2 cores (one for the proxy, one for the load)")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp = tempfile.mkdtemp(prefix="swapgate-overhead-")
    proxy_cpu, load_cpu = 0, 1
    procs = []

    def scaled(n):
        return max(50, int(n * args.scale))

    scenarios = [
        {"name": "non-stream, c=1", "stream": False, "concurrency": 1, "requests": scaled(3000), "warmup": 200,
         "sim": {"tokens": 8}},
        {"name": "non-stream, c=64", "stream": False, "concurrency": 64, "requests": scaled(20000), "warmup": 1000,
         "sim": {"tokens": 8}},
        {"name": "stream 20 tokens, c=1", "stream": True, "concurrency": 1, "requests": scaled(600), "warmup": 50,
         "sim": {"tokens": 20, "token_delay_ms": 1}},
        {"name": "stream 20 tokens, c=32", "stream": True, "concurrency": 32, "requests": scaled(4000), "warmup": 200,
         "sim": {"tokens": 20, "token_delay_ms": 1}},
    ]
    try:
        sim, sim_port = start([os.path.join(args.bin, "swapgate-sim"), "--listen", "127.0.0.1:0", "--quiet",
                               "--model", "bench,slots=256"], load_cpu)
        procs.append(sim)
        cfg = os.path.join(tmp, "swapgate.yaml")
        with open(cfg, "w") as f:
            f.write(f"""listen: 127.0.0.1:0
threads: 1
log: {{requests: false}}
backends:
  sim: {{url: "http://127.0.0.1:{sim_port}/v1", max_idle_connections: 256}}
models:
  - {{name: bench-public, backend: sim, upstream_model: bench}}
""")
        sg, sg_port = start([os.path.join(args.bin, "swapgate"), "--config", cfg], proxy_cpu)
        procs.append(sg)
        ng_port = free_port()
        ng_conf = os.path.join(tmp, "nginx.conf")
        with open(ng_conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  upstream sim {{ server 127.0.0.1:{sim_port}; keepalive 256; }}
  server {{
    listen 127.0.0.1:{ng_port};
    client_body_buffer_size 64k;
    location / {{
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }}
  }}
}}
""")
        ng, _ = start([nginx, "-p", tmp, "-c", ng_conf], proxy_cpu, wait_port=False)
        procs.append(ng)
        wait_port(ng_port)
        time.sleep(0.3)
        ng_pids = [ng.pid] + children_of(ng.pid)
        sg_pids = [sg.pid]
        idle = {"swapgate_rss_kb": rss_kb(sg_pids, "VmRSS"), "nginx_rss_kb": rss_kb(ng_pids, "VmRSS")}
        targets = {"direct": (f"http://127.0.0.1:{sim_port}/v1", []),
                   "nginx": (f"http://127.0.0.1:{ng_port}/v1", ng_pids),
                   "swapgate": (f"http://127.0.0.1:{sg_port}/v1", sg_pids)}
        bench = os.path.join(args.bin, "swapgate-bench")
        results = []
        for sc in scenarios:
            rounds = {k: [] for k in targets}
            for r in range(args.rounds):
                for name, (url, pids) in targets.items():
                    t0 = cpu_ticks(pids)
                    res = run_bench(bench, url, sc, load_cpu, tmp)
                    t1 = cpu_ticks(pids)
                    total_req = sc["requests"] + sc["warmup"]
                    res["proxy_cpu_us_per_req"] = (t1 - t0) * 1e6 / CLK_TCK / total_req if pids else None
                    rounds[name].append(res)
                    print(f"  {sc['name']:<24} round {r + 1} {name:<9} p50 {res['latency_ms']['p50']:.3f} ms "
                          f"{res['throughput_rps']:.0f} req/s", file=sys.stderr)
            row = {"scenario": sc["name"], "requests": sc["requests"], "targets": {}}
            for name, rs in rounds.items():
                med = lambda f: statistics.median(f(x) for x in rs)
                row["targets"][name] = {
                    "throughput_rps": med(lambda x: x["throughput_rps"]),
                    "latency_p50_ms": med(lambda x: x["latency_ms"]["p50"]),
                    "latency_p99_ms": med(lambda x: x["latency_ms"]["p99"]),
                    "ttft_p50_ms": med(lambda x: x["ttft_ms"]["p50"]),
                    "errors": sum(x["requests"] - x["ok"] for x in rs),
                    "proxy_cpu_us_per_req": med(lambda x: x["proxy_cpu_us_per_req"]) if name != "direct" else None,
                }
            results.append(row)
        peak = {"swapgate_rss_kb": rss_kb(sg_pids, "VmHWM"), "nginx_rss_kb": rss_kb(ng_pids, "VmHWM")}
    finally:
        stop_processes(procs)
    report = {"tool": "bench/overhead.py", "rounds": args.rounds, "scale": args.scale,
              "machine": {"cores": os.cpu_count()}, "rss_idle": idle, "rss_peak": peak, "scenarios": results}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(markdown(report))


def markdown(rep):
    lines = ["| scenario | target | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | TTFT p50 ms | added TTFT p50 ms | proxy CPU µs/req | errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rep["scenarios"]:
        d = row["targets"]["direct"]
        for name in ("direct", "nginx", "swapgate"):
            t = row["targets"][name]
            add = lambda k: "" if name == "direct" else f"{t[k] - d[k]:+.3f}"
            cpu = "" if t["proxy_cpu_us_per_req"] is None else f"{t['proxy_cpu_us_per_req']:.1f}"
            lines.append(f"| {row['scenario']} | {name} | {t['throughput_rps']:.0f} | {t['latency_p50_ms']:.3f} | "
                         f"{t['latency_p99_ms']:.3f} | {add('latency_p50_ms')} | {add('latency_p99_ms')} | "
                         f"{t['ttft_p50_ms']:.3f} | {add('ttft_p50_ms')} | {cpu} | {t['errors']} |")
    lines.append("")
    lines.append(f"RSS idle: swapgate {rep['rss_idle']['swapgate_rss_kb'] / 1024:.1f} MB, nginx (master+worker) "
                 f"{rep['rss_idle']['nginx_rss_kb'] / 1024:.1f} MB; peak: swapgate "
                 f"{rep['rss_peak']['swapgate_rss_kb'] / 1024:.1f} MB, nginx {rep['rss_peak']['nginx_rss_kb'] / 1024:.1f} MB.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
