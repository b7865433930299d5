"""CPU of one browser's whole life: launch, a tab, a page, a script, stop.

What a test suite (or a worker that starts a browser per job) pays per browser, as CPU
seconds of every process involved (the Python program, the browser and all its children),
read from a cgroup the job runs in: Linux, root. Each job is a fresh Python process
(``import syncdp`` included); the browsers take turns round by round; medians and the ratio
to the first browser are printed side by side.

    python bench/bench_launch_cpu.py --rounds 8 /usr/bin/chromium /usr/lib/chromium/chromium-headless-shell
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional

from _common import fmt, log, median

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

JOB = r"""
import json, sys, time
started = time.perf_counter()
from syncdp import Chrome
from syncdp.localserver import LocalServer
with LocalServer({"/": "<!doctype html><title>page</title><p>hello</p>"}) as site:
    with Chrome(binary_location=sys.argv[1]) as browser:
        tab = browser.new_tab()
        tab.go_to(site.url("/"))
        assert tab.execute_script("return document.title") == "page"
print(json.dumps({"wall": time.perf_counter() - started, "python": time.process_time()}))
"""


class CpuGroup:
    """A cgroup (v2 ``cpu.stat``, else v1 ``cpuacct``) whose total CPU can be read."""

    def __init__(self, name: str) -> None:
        v2 = "/sys/fs/cgroup/cgroup.controllers"
        if os.path.exists(v2):
            self.path = os.path.join("/sys/fs/cgroup", name)
            self.v2 = True
        else:
            self.path = os.path.join("/sys/fs/cgroup/cpuacct", name)
            self.v2 = False
        os.makedirs(self.path, exist_ok=True)

    def seconds(self) -> float:
        if self.v2:
            with open(os.path.join(self.path, "cpu.stat")) as fh:
                for line in fh:
                    key, value = line.split()
                    if key == "usage_usec":
                        return int(value) / 1e6
            raise RuntimeError("no usage_usec in cpu.stat")
        with open(os.path.join(self.path, "cpuacct.usage")) as fh:
            return int(fh.read()) / 1e9

    def run(self, argv: List[str]) -> Dict[str, float]:
        """Run ``argv`` inside the group; its CPU (all descendants) and its own report."""
        before = self.seconds()
        procs = os.path.join(self.path, "cgroup.procs")
        child = subprocess.run(
            argv, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=REPO),
            preexec_fn=lambda: open(procs, "w").write(str(os.getpid())), check=False,
        )
        if child.returncode != 0:
            raise RuntimeError("job failed: %s" % child.stderr[-2000:])
        time.sleep(0.5)  # the browser's last children end after the job
        report = json.loads(child.stdout.strip().splitlines()[-1])
        report["cpu"] = self.seconds() - before
        return report

    def remove(self) -> None:
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("browsers", nargs="+", help="browser executables to compare")
    parser.add_argument("--rounds", type=int, default=6, help="jobs per browser (default 6)")
    args = parser.parse_args(argv)
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        log("bench_launch_cpu: needs root (it reads CPU from a cgroup of its own)")
        return 2
    group = CpuGroup("syncdp-bench-launch-%d" % os.getpid())
    runs: Dict[str, List[Dict[str, float]]] = {b: [] for b in args.browsers}
    try:
        for number in range(args.rounds):
            for browser in args.browsers:
                runs[browser].append(group.run([sys.executable, "-c", JOB, browser]))
                log("round %d %s: %.2f CPU-s" % (number + 1, browser, runs[browser][-1]["cpu"]))
    finally:
        group.remove()
    first = median([r["cpu"] for r in runs[args.browsers[0]]])
    print("one browser's life (launch, a tab, a local page, a script, stop): medians of %d jobs"
          % args.rounds)
    print("%-48s %10s %12s %10s %8s" % ("browser", "CPU s", "of it Python", "wall s", "ratio"))
    for browser in args.browsers:
        cpu = median([r["cpu"] for r in runs[browser]])
        print("%-48s %10s %12s %10s %8s" % (
            browser, fmt(cpu, "%.2f"), fmt(median([r["python"] for r in runs[browser]]), "%.2f"),
            fmt(median([r["wall"] for r in runs[browser]]), "%.2f"), fmt(cpu / first, "%.2fx")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
