"""Process and HTTP helpers shared by the Python benchmark drivers (bench/*/run.py).

Python 3 standard library only. What is here:

- binaries: `snapshot_binaries` copies build/bin/{swapgate,...} into a private directory
  (waiting while one is missing or still being written), so a rebuild during a run
  neither breaks it nor mixes two builds;
- processes: `Processes` starts servers in their own session, reads swapgate's /
  swapgate-sim's `{"event":"listening",...,"port":N}` stdout line, keeps draining their
  output into a log file, and stops everything (SIGTERM, then SIGKILL) on exit, on an
  exception and on SIGINT/SIGTERM (`install_signal_handlers`);
- swapgate: `write_config`, `check_config` (`swapgate check-config`), `Processes.swapgate`
  (start with a config and wait for /healthz);
- swapgate-sim: `Processes.sim`, `sim_stats` (GET /sim/stats);
- swapgate-bench: `run_bench` (one invocation, its JSON; killed at exit if still running);
- HTTP: `http_get`, `http_json`, `request` (one exchange, headers and body);
- Prometheus: `scrape_metrics`, `metric` (sum over series whose labels match);
- statistics: `pct` (nearest rank, as swapgate-bench), `summary`, `median`;
- the machine: `free_port`, `cpu_seconds`, `machine_busy_seconds`, `ForeignLoad` (CPU others
  used meanwhile), `git_commit`, `binary_info`, `nice_at_least`.
"""
import atexit
import http.client
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN_DIR = os.path.join(ROOT, "build", "bin")
LISTENING = re.compile(r'"event"\s*:\s*"listening".*"port"\s*:\s*(\d+)')


def log(*parts):
    """Progress lines go to stderr; stdout is for the result tables."""
    print(*parts, file=sys.stderr, flush=True)


# ---- binaries ---------------------------------------------------------------

def snapshot_binaries(names, dest, bin_dir=BIN_DIR, wait_s=300, stable_s=1.0):
    """Copies the binaries `names` from `bin_dir` into `dest` once they all exist and their
    sizes and mtimes have not changed for `stable_s` (a linker may be writing one), and
    none changed while being copied. Waits at most `wait_s`. Returns {name: copied path};
    raises RuntimeError when they never settle."""
    os.makedirs(dest, exist_ok=True)
    deadline = time.time() + wait_s
    announced = False

    def stamp():
        out = {}
        for name in names:
            st = os.stat(os.path.join(bin_dir, name))
            if st.st_size == 0 or not os.access(os.path.join(bin_dir, name), os.X_OK):
                raise FileNotFoundError(name)
            out[name] = (st.st_size, st.st_mtime_ns)
        return out

    while True:
        try:
            s1 = stamp()
            time.sleep(stable_s)
            if stamp() == s1:
                copied = {}
                for name in names:
                    copied[name] = os.path.join(dest, name)
                    shutil.copy2(os.path.join(bin_dir, name), copied[name])
                if stamp() == s1:
                    return copied
        except FileNotFoundError:
            pass
        if time.time() >= deadline:
            raise RuntimeError(f"{bin_dir}: {', '.join(names)} missing or still changing after {wait_s} s "
                               f"(a build in progress?)")
        if not announced:
            log(f"waiting for {', '.join(names)} in {bin_dir} (missing or being rebuilt) ...")
            announced = True
        time.sleep(5)


def binary_info(path):
    st = os.stat(path)
    return {"mtime": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(st.st_mtime)), "size": st.st_size}


def git_commit():
    try:
        r = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return r.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_seconds(pid):
    """On-CPU time of all threads of `pid` in seconds (/proc/PID/task/*/schedstat: exact,
    unlike the tick-sampled utime+stime); 0 when the process is gone."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass
    except FileNotFoundError:
        pass
    return total / 1e9


def machine_busy_seconds():
    """CPU seconds all cores spent busy since boot (/proc/stat; idle and iowait excluded)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


class ForeignLoad:
    """CPU that processes other than ours used while a measurement ran, in cores:
    machine busy time minus the on-CPU time of our servers (`pids`) and of our finished
    children (swapgate-bench; RUSAGE_CHILDREN) over the wall time. Tick-sampled, so
    +-0.05 core or so; anything well above that means the machine was shared."""

    def __init__(self, pids):
        self.pids = list(pids)

    def __enter__(self):
        self.t = time.perf_counter()
        self.busy = machine_busy_seconds()
        self.ours = sum(cpu_seconds(p) for p in self.pids) + self._children()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.t
        busy = machine_busy_seconds() - self.busy
        ours = sum(cpu_seconds(p) for p in self.pids) + self._children() - self.ours
        self.cores = max(0.0, (busy - ours) / wall) if wall > 0 else 0.0
        return False

    @staticmethod
    def _children():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime + time.process_time()


def nice_at_least(n):
    """Renices this process (and so every child started later) to at least `n`."""
    cur = os.nice(0)
    if cur < n:
        os.nice(n - cur)


# ---- ports and HTTP ---------------------------------------------------------

def free_port():
    """A loopback port nothing listens on right now (the kernel's pick)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(port, method, path, body=None, headers=None, timeout=30):
    """One HTTP/1.1 exchange on a fresh connection: (status, {lower-case header: value}, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None
        h = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, payload
    finally:
        c.close()


def http_get(port, path, timeout=10):
    status, _, body = request(port, "GET", path, timeout=timeout)
    if status != 200:
        raise RuntimeError(f"GET :{port}{path} -> {status}: {body[:200]!r}")
    return body.decode()


def http_json(port, path, timeout=10):
    return json.loads(http_get(port, path, timeout))


def wait_http(port, path, timeout=20, proc=None):
    """Polls GET path until it answers 200; raises after `timeout` s or when `proc` exits."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}) before :{port}{path} answered")
        try:
            status, _, _ = request(port, "GET", path, timeout=2)
            if status == 200:
                return
            last = status
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise RuntimeError(f"GET :{port}{path} did not answer 200 within {timeout} s (last: {last})")


def sim_stats(port):
    """swapgate-sim's counters (GET /sim/stats; bench/README.md lists the fields)."""
    return http_json(port, "/sim/stats")


# ---- Prometheus -------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape_metrics(port):
    """GET /metrics as a list of (name, {label: value}, float)."""
    out = []
    for line in http_get(port, "/metrics").splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(2) or "")}
        try:
            out.append((m.group(1), labels, float(m.group(3))))
        except ValueError:
            pass
    return out


def metric(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`; None when there is none."""
    vals = [v for n, l, v in samples if n == name and all(l.get(k) == str(x) for k, x in labels.items())]
    return sum(vals) if vals else None


# ---- statistics -------------------------------------------------------------

def pct(sorted_xs, p):
    """Nearest rank, as swapgate-bench: x[ceil(p/100 n)], clamped to [1, n]; None when empty."""
    if not sorted_xs:
        return None
    k = min(max(math.ceil(p / 100.0 * len(sorted_xs) - 1e-9), 1), len(sorted_xs))
    return sorted_xs[k - 1]


def summary(xs, ps=(50, 90, 95, 99)):
    xs = sorted(x for x in xs if x is not None)
    out = {"count": len(xs)}
    for p in ps:
        out[f"p{p}"] = pct(xs, p)
    out["max"] = xs[-1] if xs else None
    out["mean"] = sum(xs) / len(xs) if xs else None
    return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---- processes --------------------------------------------------------------

def popen_listening(argv, stderr=subprocess.DEVNULL, env=None, timeout=20):
    """Starts argv (stdout read as text) and returns (Popen, port) once it prints its
    `listening` line; kills it and raises when it does not within `timeout` s. For the
    drivers that manage their processes themselves (pinning, their own log files);
    `Processes` below does more."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        m = LISTENING.search(line)
        if m:
            return p, int(m.group(1))
    p.kill()
    raise RuntimeError("did not start: " + " ".join(argv))


def wait_port(port, timeout=10):
    """Returns once something accepts TCP connections on the loopback `port`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def stop_processes(procs, grace=5):
    """SIGTERM to all, then SIGKILL to those still running after `grace` s each."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()


class Processes:
    """Servers started by one benchmark run. Each runs in its own session (so a Ctrl-C at
    the terminal reaches only this driver, which then stops them in order); stdout is read
    until the `listening` line and then drained, with stderr, into `tmp/<name>.log`.
    `stop_all` runs at exit, on exceptions (use as a context manager) and from the
    signal handlers of `install_signal_handlers`."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []  # (name, Popen)
        self.lock = threading.Lock()
        atexit.register(self.stop_all)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop_all()
        return False

    def log_path(self, name):
        return os.path.join(self.tmp, name + ".log")

    def start(self, name, argv, wait_listening=True, timeout=20, env=None):
        """Starts argv; returns (Popen, port or None). With wait_listening, waits for the
        `{"event":"listening",...,"port":N}` line on stdout."""
        logf = open(self.log_path(name), "ab")
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=logf, stdin=subprocess.DEVNULL,
                             start_new_session=True, env=env)
        logf.close()
        with self.lock:
            self.procs.append((name, p))
        port = None
        if wait_listening:
            port = self._read_port(name, p, timeout)
        threading.Thread(target=self._drain, args=(p, self.log_path(name)), daemon=True).start()
        return p, port

    def _read_port(self, name, p, timeout):
        found = []

        def reader():
            for raw in iter(p.stdout.readline, b""):
                line = raw.decode(errors="replace")
                m = LISTENING.search(line)
                if m:
                    found.append(int(m.group(1)))
                    return
                with open(self.log_path(name), "a") as f:
                    f.write(line)

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(timeout)
        if found:
            return found[0]
        self.stop(p)
        raise RuntimeError(f"{name} did not report listening within {timeout} s: {' '.join(argv_of(p))}\n"
                           f"--- {self.log_path(name)} (tail) ---\n{tail(self.log_path(name))}")

    @staticmethod
    def _drain(p, path):
        try:
            with open(path, "ab") as f:
                for raw in iter(p.stdout.readline, b""):
                    f.write(raw)
                    f.flush()
        except (OSError, ValueError):
            pass

    def sim(self, sim_bin, models, name="sim", extra=(), listen="127.0.0.1:0", quiet=True):
        """swapgate-sim with `models` (SPEC strings); returns (Popen, port)."""
        argv = [sim_bin, "--listen", listen]
        for m in models:
            argv += ["--model", m]
        if quiet:
            argv.append("--quiet")
        return self.start(name, argv + list(extra))

    def swapgate(self, swapgate_bin, config_text, name="swapgate", health_timeout=20, extra=()):
        """Writes tmp/<name>.yaml, starts swapgate with it and waits for /healthz.
        Returns (Popen, port, config path)."""
        cfg = write_config(os.path.join(self.tmp, name + ".yaml"), config_text)
        p, port = self.start(name, [swapgate_bin, "--config", cfg] + list(extra))
        try:
            wait_http(port, "/healthz", health_timeout, proc=p)
        except RuntimeError as e:
            self.stop(p)
            raise RuntimeError(f"{name}: {e}\n--- {self.log_path(name)} (tail) ---\n{tail(self.log_path(name))}")
        return p, port, cfg

    def stop(self, p, grace=10):
        """SIGTERM, then SIGKILL after `grace` s. Only the process itself (by pid); swapgate
        stops the model servers it started (and the kernel kills them if it dies: PDEATHSIG)."""
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
                p.wait()
        if p.stdout:
            try:
                p.stdout.close()
            except OSError:
                pass
        with self.lock:
            self.procs = [(n, q) for n, q in self.procs if q is not p]

    def stop_all(self):
        with self.lock:
            procs = list(reversed(self.procs))
        for _, p in procs:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _, p in procs:
            self.stop(p)


def argv_of(p):
    return p.args if isinstance(p.args, (list, tuple)) else [str(p.args)]


def tail(path, n=3000):
    try:
        with open(path, errors="replace") as f:
            s = f.read()
        return s[-n:]
    except OSError:
        return "(no log)"


def install_signal_handlers():
    """SIGINT and SIGTERM raise (KeyboardInterrupt / SystemExit) so `finally` blocks and
    atexit handlers stop the servers."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


# ---- swapgate config --------------------------------------------------------

def write_config(path, text):
    with open(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    return path


def check_config(swapgate_bin, path):
    """`swapgate check-config FILE`: (ok, its output)."""
    r = subprocess.run([swapgate_bin, "check-config", path], capture_output=True, text=True, timeout=30)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


# ---- swapgate-bench ---------------------------------------------------------

_clients = set()  # swapgate-bench processes running (possibly from other threads)
_clients_lock = threading.Lock()


def _kill_clients():
    with _clients_lock:
        procs = list(_clients)
    for p in procs:
        if p.poll() is None:
            p.kill()


atexit.register(_kill_clients)


def run_bench(bench_bin, url, args, json_path, timeout=600):
    """Runs swapgate-bench against `url` with extra `args`; returns its first target's
    JSON object (bench/load/README.md: requests, ok, errors, throughput_rps, latency_ms...).
    Safe to call from a worker thread: a run still going at exit is killed."""
    argv = [bench_bin, "--url", url, "--quiet", "--json", json_path] + list(args)
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    with _clients_lock:
        _clients.add(p)
    try:
        _, err = p.communicate(timeout=timeout)
    except BaseException:
        p.kill()
        p.wait()
        raise
    finally:
        with _clients_lock:
            _clients.discard(p)
    if p.returncode != 0:
        raise RuntimeError(f"swapgate-bench failed ({p.returncode}): {' '.join(argv)}\n{(err or '')[-2000:]}")
    with open(json_path) as f:
        return json.load(f)["targets"][0]
