#!/usr/bin/env python3
"""Lower bounds for issue 5's scheduling targets: what no on-demand policy can do.

For each scenario and budget of `run.py`, with the targets of a results file
(`bench/results/scheduling.json` by default: 0.7 x the better baseline's p95, the
better baseline's longest wait, half the better baseline's swaps), it prints:

1. **p95 bound.** A policy that loads on demand (a model's load starts only once a
   request for it waits, as value, fifo and lru do) makes each model's first request
   wait at least that model's load, then run its service. Every other request takes at
   least its service. p95 (nearest rank, as run.py) is then at least the
   ceil(0.95 n)-th smallest of these per-request floors.

2. **Fewest loads.** A depth-first search over a relaxation of the proxy, for
   "longest wait <= L" alone and for "longest <= L and p95 <= X" (at most
   n - ceil(0.95 n) requests above X). Every real on-demand schedule maps onto a
   relaxed one with the same number of loads, so the minimum is a lower bound:
   - a load takes the sim's `load_ms` (the real one is 60-190 ms longer: the process
     start and the health poll; `--start-ms` adds a figure), and a service 50 ms less
     than the trace says (`--service-slack-ms`; the sim's replies end up to ~20 ms early);
   - unloads take no time; there is no decision window; slots are unlimited;
   - a waiting load may start at any moment from its first waiter's arrival up to
     the latest start its waiters' deadlines allow: in free room, or in the room of
     any resident model whose admitted requests have finished by then;
   - a resident model may stop admitting (drain) at any of its requests; that
     request then waits for the model's next load;
   - a request served by a resident model starts at its arrival or when the model
     is ready, whichever is later.
   Branch and bound with a memo of visited states; a state is cut when its loads plus
   one per model still to be asked for that is neither resident nor waiting for a load
   reach the best found. A search that hits `--node-limit` says so and proves nothing.
   Swaps = loads - rooms: in these runs (no ttl expiry, no admin unloads) every
   load after the rooms first fill evicts something.

    python3 bench/scheduling/bounds.py        # room for two, targets from bench/results/scheduling.json (~7 min)
    python3 bench/scheduling/bounds.py --scenarios agents --budgets fits-1,fits-2    # seconds
    python3 bench/scheduling/bounds.py --longest-s 4.2 --p95-s 2.9   # explicit targets (every scenario)

It writes nothing; the figures are quoted in README.md ("Lower bounds").
"""
import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as bench_run  # noqa: E402  (scenarios(), BUDGETS, make_trace)
import traces  # noqa: E402

ROOMS = {"fits-1": 1, "fits-2": 2}


def p95_floor(trace, load_ms):
    """Per-request latency floors under any on-demand policy, and p95 of them."""
    seen = set()
    floors = []
    for at, m, service in trace:
        floors.append(service + (load_ms[m] if m not in seen else 0))
        seen.add(m)
    xs = sorted(floors)
    k = min(max(math.ceil(0.95 * len(xs) - 1e-9), 1), len(xs))
    return xs[k - 1], floors


class Search:
    """Branch and bound over the relaxation described in the module docstring."""

    def __init__(self, trace, load_ms, rooms, longest_ms, p95_ms=None, node_limit=2_000_000):
        self.trace = trace
        self.load = load_ms
        self.rooms = rooms
        self.L = longest_ms
        self.X = p95_ms if p95_ms is not None else longest_ms
        n = len(trace)
        self.late_budget = n - min(max(math.ceil(0.95 * n - 1e-9), 1), n) if p95_ms is not None else n
        self.best = math.inf
        self.nodes = 0
        self.node_limit = node_limit
        self.complete = True
        self.seen = {}
        # For victim ordering: next arrival index of each model after position i.
        self.next_use = [[math.inf] * (len(load_ms)) for _ in range(n + 1)]
        for i in range(n - 1, -1, -1):
            self.next_use[i] = list(self.next_use[i + 1])
            self.next_use[i][trace[i][1]] = trace[i][0]

    def run(self):
        # resident: model -> (serve_from, busy_end, draining); pending: model -> (first_at, latest_start, serve_floor)
        self.dfs(0, {}, {}, 0, 0)
        return self.best

    def classify(self, latency):
        """The ways a request with this latency floor can count: [] = impossible."""
        if latency > self.L:
            return []
        return [0] if latency <= self.X else [1]

    def dfs(self, i, resident, pending, loads, late, after=-1):
        self.nodes += 1
        if self.nodes > self.node_limit:
            self.complete = False
            return
        # Every model still to be asked for that is neither resident (admitting) nor
        # waiting for a load needs one more load at least.
        need = sum(1 for m, nxt in enumerate(self.next_use[i])
                   if nxt < math.inf and m not in pending and not (m in resident and not resident[m][2]))
        if loads + need >= self.best:
            return
        key = (i, late, after, tuple(sorted(resident.items())),
               tuple(sorted((m, p[0], p[1], tuple(p[2])) for m, p in pending.items())))
        if self.seen.get(key, math.inf) <= loads:
            return
        self.seen[key] = loads
        next_at = self.trace[i][0] if i < len(self.trace) else math.inf
        # A waiting load must start by its latest start: when that comes before the
        # next arrival, one of its ways to start is taken now.
        forced = sorted((p[1], m) for m, p in pending.items() if p[1] < next_at)
        if forced:
            self.start_options(forced[0][1], i, resident, pending, loads, late, -1)
            return
        # Start a waiting load now (any of them, in model order at one arrival so
        # that the same set of starts is not tried in every order), or go on.
        for m in sorted(pending):
            if m > after:
                self.start_options(m, i, resident, pending, loads, late, m)
        if i == len(self.trace):
            if not pending:
                self.best = min(self.best, loads)
            return
        self.arrive(i, resident, pending, loads, late)

    def arrive(self, i, resident, pending, loads, late):
        at, m, service = self.trace[i]
        if m in resident and not resident[m][2]:
            serve_from, busy_end, _ = resident[m]
            lat = max(at, serve_from) + service - at
            for extra in self.classify(lat):
                if late + extra > self.late_budget:
                    continue
                r = dict(resident)
                r[m] = (serve_from, max(busy_end, max(at, serve_from) + service), False)
                self.dfs(i + 1, r, pending, loads, late + extra)
            # Or m drains: it admits nothing more (so it can leave sooner) and this
            # request waits for m's next load.
            r = dict(resident)
            r[m] = (r[m][0], r[m][1], True)
            resident = r
        new_load = m not in pending
        for kind, limit in ((0, self.X), (1, self.L)):
            if late + kind > self.late_budget:
                continue
            if kind == 1 and self.X >= self.L:
                continue
            latest = at + limit - service - self.load[m]  # this request's latest load start
            if new_load:
                if latest < at:
                    continue
                p = dict(pending)
                p[m] = (at, latest, ((at, service),))
                self.dfs(i + 1, resident, p, loads + 1, late + kind)
            else:
                first_at, cur_latest, reqs = pending[m]
                latest = min(cur_latest, latest)
                if latest < first_at:
                    continue
                p = dict(pending)
                p[m] = (first_at, latest, reqs + ((at, service),))
                self.dfs(i + 1, resident, p, loads, late + kind)

    def start_options(self, m, i, resident, pending, loads, late, after):
        """Every way the waiting load of m can start: in free room when its first
        waiter arrived, or in place of a resident v once v's requests are done."""
        if m in resident:
            return  # still draining: it leaves only as some other load's victim
        first_at, latest, reqs = pending[m]
        p = dict(pending)
        del p[m]

        def place(r, start):
            serve_from = start + self.load[m]
            # The waiters' deadlines were checked against `latest` >= start.
            busy_end = max(max(a, serve_from) + s for a, s in reqs)
            r[m] = (serve_from, busy_end, False)
            self.dfs(i, r, p, loads, late, after)

        if len(resident) < self.rooms:
            place(dict(resident), first_at)
        # Victims needed furthest in the future first (Belady): good bounds early.
        victims = [v for v, (_, busy_end, _) in resident.items() if max(first_at, busy_end) <= latest]
        victims.sort(key=lambda v: -self.next_use[i][v])
        for v in victims:
            r = dict(resident)
            busy_end = r.pop(v)[1]
            place(r, max(first_at, busy_end))


def targets_from(results, scenario, budget):
    for g in results.get("groups", []):
        if g["scenario"] == scenario and g["budget"] == budget:
            base = [r for r in g["runs"] if r["policy"] in ("fifo", "lru")]
            if len(base) < 2:
                return None
            return {
                "p95_ms": 0.7 * min(r["latency_ms"]["p95"] for r in base),
                "longest_ms": min(r["longest_wait_ms"] for r in base),
                "swaps": min(r["swaps"] for r in base) / 2.0,
                "baseline_swaps": {r["policy"]: r["swaps"] for r in base},
                "runs": [{"policy": r["policy"], "loads": r["loads"], "p95_ms": r["latency_ms"]["p95"],
                          "longest_ms": r["longest_wait_ms"]} for r in g["runs"]],
                "value": next(({"swaps": r["swaps"], "p95_ms": r["latency_ms"]["p95"],
                                "longest_ms": r["longest_wait_ms"]} for r in g["runs"] if r["policy"] == "value"),
                              None),
            }
    return None


def check_against_runs(t, search, best, p95):
    """A policy of the run that met these limits is a schedule the bound covers, so
    it cannot have loaded less than the minimum (nor met limits the search says no
    schedule meets)."""
    if not search.complete:
        return
    for r in t.get("runs", []):
        met = r["longest_ms"] <= t["longest_ms"] and (p95 is None or r["p95_ms"] <= p95)
        if met and r["loads"] < best:
            print(f"   WARNING: {r['policy']} met these limits with {r['loads']} loads: "
                  "the relaxation is not a bound here")


def self_test():
    """Small traces whose answers are worked out by hand (`--self-test`)."""
    alt = [(0, 0, 1000), (10_000, 1, 1000), (20_000, 0, 1000), (30_000, 1, 1000)]
    cases = [
        # Every request within 3 s: each change of model is a load with room for one...
        ("alternating, room for 1, longest 3 s", alt, 1, 3000, None, 4),
        # ...and with room for two both stay.
        ("alternating, room for 2, longest 3 s", alt, 2, 3000, None, 2),
        # Within 15 s, B's first request can wait until A has served its second one
        # (B loads at 21 s, answers at 23 s: 13 s): two loads.
        ("alternating, room for 1, longest 15 s", alt, 1, 15_000, None, 2),
        # But if p95 must stay at 3 s, no request may be late (n - ceil(0.95 n) = 0).
        ("alternating, room for 1, longest 15 s, p95 3 s", alt, 1, 15_000, 3000, 4),
        # A request that cannot make even the longest wait: nothing meets it.
        ("load longer than the longest wait", alt, 1, 1500, None, math.inf),
    ]
    ok = True
    for name, trace, rooms, longest, p95, want in cases:
        got = Search(trace, [1000, 1000], rooms, longest, p95).run()
        ok &= got == want
        print(f"{'ok ' if got == want else 'BAD'} {name}: {got} loads (expected {want})")
    floor, floors = p95_floor(alt, [1000, 1000])
    ok &= floors == [2000, 2000, 1000, 1000] and floor == 2000
    print(f"{'ok ' if floors == [2000, 2000, 1000, 1000] else 'BAD'} p95 floor: {floors}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--self-test", action="store_true", help="check the search on hand-worked traces")
    ap.add_argument("--results", default=os.path.join(HERE, "..", "results", "scheduling.json"))
    ap.add_argument("--scenarios", default="zipf,agents")
    ap.add_argument("--budgets", default="fits-2",
                    help="fits-1 works for the agent trace; on the Zipf trace its slack makes the search long")
    ap.add_argument("--longest-s", type=float, help="longest-wait target (default: from --results)")
    ap.add_argument("--p95-s", type=float, help="p95 target (default: from --results)")
    ap.add_argument("--start-ms", type=float, default=0,
                    help="add this to every load (a process start; the runs measure 60-190 ms)")
    ap.add_argument("--service-slack-ms", type=float, default=50,
                    help="take this off every service time: the sim's replies end up to ~20 ms "
                         "before the nominal service (default 50)")
    ap.add_argument("--node-limit", type=int, default=50_000_000)
    args = ap.parse_args()
    if args.self_test:
        sys.exit(0 if self_test() else 1)
    results = {}
    if os.path.exists(args.results):
        with open(args.results) as f:
            results = json.load(f)
    wanted = set(args.scenarios.split(","))
    for sc in bench_run.scenarios(False):
        if sc["name"] not in wanted:
            continue
        trace = [(at, m, max(0.0, service - args.service_slack_ms)) for at, m, service in bench_run.make_trace(sc)]
        load_ms = [ms + args.start_ms for _, ms in sc["models"]]
        for budget in args.budgets.split(","):
            if budget not in sc["budgets"]:
                continue
            t = targets_from(results, sc["name"], budget) or {}
            if args.longest_s is not None:
                t["longest_ms"] = args.longest_s * 1000
            if args.p95_s is not None:
                t["p95_ms"] = args.p95_s * 1000
            if "longest_ms" not in t or "p95_ms" not in t:
                print(f"{sc['name']} {budget}: no targets (run run.py first or pass --longest-s/--p95-s)")
                continue
            rooms = ROOMS[budget]
            loads_used = load_ms
            print(f"## {sc['title']}, {budget} ({len(trace)} requests, room for {rooms})")
            print(f"targets: p95 <= {t['p95_ms'] / 1000:.2f} s, longest <= {t['longest_ms'] / 1000:.2f} s"
                  + (f", swaps <= {t['swaps']:g} (baselines {t['baseline_swaps']})" if "swaps" in t else ""))
            print("loads: " + ", ".join(f"{n} {ms / 1000:.2f} s" for (n, _), ms in zip(sc["models"], loads_used))
                  + f"; services shortened by {args.service_slack_ms:g} ms")
            if t.get("value"):
                v = t["value"]
                print(f"value in that run: {v['swaps']} swaps, p95 {v['p95_ms'] / 1000:.2f} s, "
                      f"longest {v['longest_ms'] / 1000:.2f} s")
            floor, _ = p95_floor(trace, loads_used)
            verdict = "unreachable" if floor > t["p95_ms"] else "not excluded"
            print(f"1. p95 floor of any on-demand policy: {floor / 1000:.2f} s -> p95 target {verdict}")
            for label, p95 in (("longest only", None), ("longest and p95", t["p95_ms"])):
                s = Search(trace, loads_used, rooms, t["longest_ms"], p95, args.node_limit)
                t0 = time.time()
                best = s.run()
                took = time.time() - t0
                check_against_runs(t, s, best, p95)
                if best == math.inf:
                    what = "no schedule meets it" if s.complete else "none found (search cut short)"
                    print(f"2. fewest loads, {label}: {what} [{s.nodes} nodes, {took:.1f} s]")
                    continue
                swaps = max(0, best - rooms)
                exact = "" if s.complete else " (search cut short: not a bound)"
                reach = ""
                if "swaps" in t and s.complete:
                    reach = " -> swap target unreachable" if swaps > t["swaps"] else " -> swap target not excluded"
                print(f"2. fewest loads, {label}: {best} (swaps >= {swaps}){exact}{reach} "
                      f"[{s.nodes} nodes, {took:.1f} s]")
            print()


if __name__ == "__main__":
    main()
