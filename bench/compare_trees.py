"""Two (or more) versions of syncdp side by side on headless Chromium, interleaved finely.

Each tree (a directory holding a ``syncdp`` package, e.g. a ``git archive`` of another
commit) runs in a worker process of its own, with a ``Chrome(pipe=True)`` and a ``Chrome()``
(sessions over a websocket), one page target on each, attached as a flattened session.
The driver then asks the workers in turn for one *slice* of work (e.g. 500 round trips),
the order of the trees alternating every slice, so that a load spike on a shared machine
hits every tree alike. Per slice a worker reports the wall time and its own CPU time
(``time.process_time``: caller, reader and dispatcher threads); the figures are medians of
the slices, and the ratios (``x NAME``) are medians of the per-slice ratios to the first
tree.

::

    git archive HEAD~3 syncdp | tar -x -C /tmp/before
    python bench/compare_trees.py before=/tmp/before after=. --slices 20

Workloads (``--work``): ``rtt`` (sequential ``Runtime.evaluate("1+1")``), ``events``
(``console.log`` floods to a callback), ``submit`` (pipelined from one thread).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
EVAL = {"method": "Runtime.evaluate", "params": {"expression": "1+1"}}
MODES = ("pipe", "sessions")


# -- the worker (one tree) ------------------------------------------------------------------


def _flood(n: int) -> Dict[str, Any]:
    expression = "for (let i = 0; i < %d; i++) console.log(i); %d" % (n, n)
    return {"method": "Runtime.evaluate", "params": {"expression": expression}}


class _Target:
    def __init__(self, pipe: bool, binary: str) -> None:
        from syncdp import Chrome

        self.chrome = Chrome(binary_location=binary, pipe=pipe).start()
        connection = self.chrome.connection
        target = connection.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = connection.attach(target)
        self.session.send("Runtime.enable")
        self.count = 0
        self.goal = 0
        self.done = threading.Event()
        self.session.register_callback("Runtime.consoleAPICalled", self._on_console)

    def _on_console(self, event: Dict[str, Any]) -> None:
        self.count += 1
        if self.count == self.goal:
            self.done.set()

    def run(self, work: str, n: int) -> None:
        session = self.session
        if work == "rtt":
            for _ in range(n):
                session.execute_command(EVAL)
        elif work == "submit":
            for future in [session.submit(EVAL) for _ in range(n)]:
                future.result(60)
        elif work == "events":
            self.count, self.goal = 0, n
            self.done.clear()
            session.submit(_flood(n))
            if not self.done.wait(120):
                raise RuntimeError("only %d of %d events" % (self.count, n))
        else:
            raise ValueError(work)

    def close(self) -> None:
        self.chrome.stop()


def worker(binary: str) -> int:
    targets = {"pipe": _Target(True, binary), "sessions": _Target(False, binary)}
    try:
        for mode in MODES:  # warm-up
            targets[mode].run("rtt", 200)
            targets[mode].run("events", 500)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        for line in sys.stdin:
            mode, work, n = line.split()
            c0, t0 = time.process_time(), time.perf_counter()
            targets[mode].run(work, int(n))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            sys.stdout.write(json.dumps([wall, cpu]) + "\n")
            sys.stdout.flush()
    finally:
        for target in targets.values():
            target.close()
    return 0


# -- the driver -------------------------------------------------------------------------------


def _start(path: str, binary: str) -> "subprocess.Popen[str]":
    env = dict(os.environ, PYTHONPATH=os.path.abspath(path))
    process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--worker", "--binary", binary],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise RuntimeError("the worker for %s did not start: %r" % (path, line))
    return process


def _ask(process: "subprocess.Popen[str]", mode: str, work: str, n: int) -> Tuple[float, float]:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("%s %s %d\n" % (mode, work, n))
    process.stdin.flush()
    wall, cpu = json.loads(process.stdout.readline())
    return float(wall), float(cpu)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", metavar="NAME=PATH", help="a directory holding syncdp/")
    parser.add_argument("--slices", type=int, default=20)
    parser.add_argument("--work", nargs="+", default=["rtt", "events"], choices=("rtt", "events", "submit"))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--rtt", type=int, default=500, help="round trips per slice")
    parser.add_argument("--events", type=int, default=3000, help="events per slice")
    parser.add_argument("--submit", type=int, default=2000, help="pipelined commands per slice")
    parser.add_argument("--binary", default=os.environ.get("SYNCDP_BENCH_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.binary)
    trees = [tree.split("=", 1) for tree in args.trees]
    if len(trees) < 2 or any(len(tree) != 2 for tree in trees):
        parser.error("give at least two NAME=PATH trees")
    sizes = {"rtt": args.rtt, "events": args.events, "submit": args.submit}
    print("load average before: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("command: python bench/compare_trees.py %s" % " ".join(argv))
    workers = [(name, _start(path, args.binary)) for name, path in trees]
    # (mode, work) -> name -> [(wall per op, cpu per op)], one per slice
    figures: Dict[Tuple[str, str], Dict[str, List[Tuple[float, float]]]] = {}
    try:
        for s in range(args.slices):
            order = workers if s % 2 == 0 else workers[::-1]
            for mode in args.modes:
                for work in args.work:
                    n = sizes[work]
                    for name, process in order:
                        wall, cpu = _ask(process, mode, work, n)
                        figures.setdefault((mode, work), {}).setdefault(name, []).append((wall / n, cpu / n))
            sys.stderr.write("slice %d/%d\n" % (s + 1, args.slices))
    finally:
        for _, process in workers:
            assert process.stdin is not None
            process.stdin.close()
        for _, process in workers:
            process.wait(60)
    print("load average after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    first = trees[0][0]
    print()
    print("| mode | work | tree | wall us/op | CPU us/op | wall x %s | CPU x %s |" % (first, first))
    print("|---|---|---|---:|---:|---:|---:|")
    for (mode, work), by_tree in figures.items():
        base = by_tree[first]
        for name, _ in trees:
            rows = by_tree[name]
            wall = statistics.median(r[0] for r in rows) * 1e6
            cpu = statistics.median(r[1] for r in rows) * 1e6
            wall_ratio = statistics.median(r[0] / b[0] for r, b in zip(rows, base))
            cpu_ratio = statistics.median(r[1] / b[1] for r, b in zip(rows, base))
            cells = (mode, work, name, wall, cpu, wall_ratio, cpu_ratio)
            print("| %s | %s | %s | %.1f | %.2f | %.3f | %.3f |" % cells)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
