"""Many tabs on one local Chromium, driven from 8 threads: syncdp's two transports and pychrome.

Each job opens N tabs on a freshly launched headless Chromium, then 8 worker threads take the
tabs one by one: navigate to a local page (wait for its load) and evaluate a script a few
times. Every job runs in its own Python process, so its figures are its own: peak threads
(``threading.active_count()``, the sampler thread not counted), peak TCP sockets to the
DevTools port (``/proc/self/fd`` + ``/proc/net/tcp``; "library threads" leaves out the main
thread and the benchmark's own 8 workers), peak RSS (``VmHWM``), command
latency percentiles. The pages are served by ``syncdp.localserver.LocalServer`` from the
harness process (its request threads would otherwise count as the client's).

Jobs: ``sessions`` (``Chrome(transport="sessions")``: flattened sessions on one socket),
``sockets`` (``Chrome(transport="sockets")``: a socket and two threads per tab), ``pychrome``
(a socket and two threads per tab). Interleaved in rounds, 100 tabs and 25 tabs (to show
which thread counts depend on the number of tabs).

Run: ``python bench/bench_tabs.py [--rounds 3] [--tabs 100 25] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    CHROMIUM,
    fmt,
    log,
    machine_lines,
    median,
    percentile,
    rss_kb,
    run_threads,
    tcp_sockets_to_port,
    verdict,
)

PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>tab bench</title></head><body>%s</body></html>"
    % "".join("<p>paragraph %d: %s</p>" % (i, "lorem ipsum dolor sit amet " * 5) for i in range(20))
)
SCRIPT = (
    "(() => { let s = 0; for (const p of document.querySelectorAll('p')) "
    "s += p.textContent.length; return s; })()"
)
JOBS = ("sessions", "sockets", "pychrome")


class Sampler:
    """Samples thread count (every 5 ms) and DevTools sockets (every 50 ms) in a thread."""

    def __init__(self) -> None:
        self.port: Optional[int] = None
        self.peak_threads = 0
        self.peak_library_threads = 0
        self.peak_sockets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(0.005):
            self._count_threads()
            tick += 1
            if self.port is not None and tick % 10 == 0:
                self.peak_sockets = max(self.peak_sockets, tcp_sockets_to_port(self.port))

    def _count_threads(self) -> None:
        self.peak_threads = max(self.peak_threads, threading.active_count() - 1)
        library = sum(
            1
            for t in threading.enumerate()
            if t is not threading.main_thread() and not t.name.startswith("bench-")
        )
        self.peak_library_threads = max(self.peak_library_threads, library)

    def sample_now(self) -> None:
        self._count_threads()
        if self.port is not None:
            self.peak_sockets = max(self.peak_sockets, tcp_sockets_to_port(self.port))

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def drive(tabs: List[Any], workers: int, visit: Callable[[Any], List[float]]) -> Tuple[float, List[float]]:
    """Run ``visit(tab)`` for every tab from ``workers`` threads; returns (seconds, latencies)."""
    todo: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
    for tab in tabs:
        todo.put(tab)
    latencies: List[float] = []
    errors: List[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        while True:
            try:
                tab = todo.get_nowait()
            except queue.Empty:
                return
            try:
                found = visit(tab)
            except BaseException as exc:  # reported by the harness
                with lock:
                    errors.append(exc)
                continue
            with lock:
                latencies.extend(found)

    elapsed = run_threads(work, workers, "bench-worker")
    if errors:
        raise RuntimeError("%d tab(s) failed; first: %r" % (len(errors), errors[0]))
    return elapsed, latencies


def job_syncdp(
    transport: str, n: int, url: str, workers: int, evals: int, sampler: Sampler
) -> Dict[str, Any]:
    from syncdp import Chrome

    browser = Chrome(binary_location=CHROMIUM, tab_mode=transport).start()
    try:
        sampler.port = browser.process.port
        t0 = time.perf_counter()
        tabs = [browser.new_tab() for _ in range(n)]
        opened = time.perf_counter() - t0
        navigations: List[float] = []

        def visit(tab: Any) -> List[float]:
            t = time.perf_counter()
            tab.go_to(url)
            navigations.append(time.perf_counter() - t)
            out = []
            for _ in range(evals):
                t = time.perf_counter()
                tab.execute_script(SCRIPT)
                out.append(time.perf_counter() - t)
            return out

        driven, latencies = drive(tabs, workers, visit)
        sampler.sample_now()
        return {"open": opened, "drive": driven, "latencies": latencies, "navigations": navigations}
    finally:
        browser.stop()


def job_pychrome(n: int, url: str, workers: int, evals: int, sampler: Sampler) -> Dict[str, Any]:
    import pychrome

    from syncdp.launcher import BrowserProcess, LaunchOptions

    process = BrowserProcess(LaunchOptions(binary_location=CHROMIUM))
    process.start()
    tabs: List[Any] = []
    try:
        sampler.port = process.port
        browser = pychrome.Browser(url="http://127.0.0.1:%d" % process.port)
        t0 = time.perf_counter()
        for _ in range(n):
            tab = browser.new_tab()
            tab.start()
            tabs.append(tab)
        opened = time.perf_counter() - t0
        navigations: List[float] = []

        def visit(tab: Any) -> List[float]:
            t = time.perf_counter()
            loaded = threading.Event()
            tab.set_listener("Page.loadEventFired", lambda **_: loaded.set())
            tab.call_method("Page.enable", _timeout=30)
            tab.call_method("Page.navigate", url=url, _timeout=30)
            if not loaded.wait(30):
                raise RuntimeError("pychrome: no load event")
            navigations.append(time.perf_counter() - t)
            out = []
            for _ in range(evals):
                t = time.perf_counter()
                tab.call_method("Runtime.evaluate", expression=SCRIPT, returnByValue=True, _timeout=30)
                out.append(time.perf_counter() - t)
            return out

        driven, latencies = drive(tabs, workers, visit)
        sampler.sample_now()
        return {"open": opened, "drive": driven, "latencies": latencies, "navigations": navigations}
    finally:
        for tab in tabs:
            try:
                tab.stop()
            except Exception:
                pass
        process.stop()


def run_job(args: argparse.Namespace) -> int:
    """One job, in this (fresh) process; prints one JSON line."""
    # pychrome's reader thread raises when stop() closes its socket under it: not ours.
    threading.excepthook = lambda hook_args: None
    sampler = Sampler().start()
    base_threads = threading.active_count() - 1
    base_rss = rss_kb()
    if args.job == "pychrome":
        result = job_pychrome(args.tabs, args.url, args.threads, args.evals, sampler)
    else:
        result = job_syncdp(args.job, args.tabs, args.url, args.threads, args.evals, sampler)
    sampler.stop()
    result.update(
        {
            "job": args.job,
            "tabs": args.tabs,
            "base_threads": base_threads,
            "peak_threads": sampler.peak_threads,
            "peak_library_threads": sampler.peak_library_threads,
            "peak_sockets": sampler.peak_sockets,
            "base_rss_kb": base_rss,
            "peak_rss_kb": rss_kb(field="VmHWM"),
        }
    )
    print(json.dumps(result))
    return 0


def spawn_job(job: str, tabs: int, url: str, args: argparse.Namespace) -> Dict[str, Any]:
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--job",
        job,
        "--tabs",
        str(tabs),
        "--url",
        url,
        "--threads",
        str(args.threads),
        "--evals",
        str(args.evals),
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise RuntimeError("job %s/%d failed:\n%s" % (job, tabs, out.stderr[-3000:]))
    result: Dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tabs", type=int, nargs="+", default=[100, 25])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--evals", type=int, default=5, help="script evaluations per tab")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not figures")
    parser.add_argument("--json", help="also write the raw per-round values here")
    parser.add_argument("--job", choices=JOBS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:
        args.tabs = args.tabs[0]
        return run_job(args)
    if args.quick:
        args.rounds, args.tabs = 1, [10, 4]

    from syncdp.localserver import LocalServer

    for line in machine_lines():
        print(line)
    print("command: python bench/bench_tabs.py %s" % " ".join(argv))
    runs: Dict[Tuple[str, int], List[Dict[str, Any]]] = {}
    with LocalServer({"/": PAGE}) as server:
        url = server.url("/")
        for r in range(args.rounds):
            for tabs in args.tabs:
                for job in JOBS:
                    t0 = time.perf_counter()
                    try:
                        result = spawn_job(job, tabs, url, args)
                    except Exception as exc:
                        log(str(exc))
                        continue
                    runs.setdefault((job, tabs), []).append(result)
                    log(
                        "round %d/%d %s x%d: open %.2fs drive %.2fs (%.1fs with launch)"
                        % (
                            r + 1,
                            args.rounds,
                            job,
                            tabs,
                            result["open"],
                            result["drive"],
                            time.perf_counter() - t0,
                        )
                    )

    def m(job: str, tabs: int, key: str) -> Optional[float]:
        values = [run[key] for run in runs.get((job, tabs), [])]
        return median(values) if values else None

    def pct(job: str, tabs: int, key: str, q: float) -> Optional[float]:
        values = [percentile(run[key], q) for run in runs.get((job, tabs), []) if run[key]]
        return median(values) if values else None

    print()
    print(
        "%d worker threads; per tab: navigate to a LocalServer page (wait for load), then %d "
        "`Runtime.evaluate` of a small script. Medians over %d rounds (jobs interleaved, each in "
        "a fresh process with a freshly launched Chromium; launch not timed)."
        % (args.threads, args.evals, args.rounds)
    )
    print()
    print(
        "| client | tabs | open tabs s | drive s | wall s (open + drive) | peak threads | "
        "peak library threads | "
        "peak DevTools sockets | peak RSS MB (baseline) | evaluate p50 ms | evaluate p99 ms | "
        "navigate p50 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    labels = {"sessions": "syncdp sessions", "sockets": "syncdp sockets", "pychrome": "pychrome"}
    for tabs in args.tabs:
        for job in JOBS:
            if (job, tabs) not in runs:
                continue
            opened, driven = m(job, tabs, "open"), m(job, tabs, "drive")
            walls = [run["open"] + run["drive"] for run in runs[(job, tabs)]]
            print(
                "| %s | %d | %s | %s | %s | %s (%s before) | %s | %s | %s (%s) | %s | %s | %s |"
                % (
                    labels[job],
                    tabs,
                    fmt(opened, "%.2f"),
                    fmt(driven, "%.2f"),
                    fmt(median(walls), "%.2f"),
                    fmt(m(job, tabs, "peak_threads"), "%.0f"),
                    fmt(m(job, tabs, "base_threads"), "%.0f"),
                    fmt(m(job, tabs, "peak_library_threads"), "%.0f"),
                    fmt(m(job, tabs, "peak_sockets"), "%.0f"),
                    fmt((m(job, tabs, "peak_rss_kb") or 0) / 1024, "%.0f"),
                    fmt((m(job, tabs, "base_rss_kb") or 0) / 1024, "%.0f"),
                    fmt((pct(job, tabs, "latencies", 50) or 0) * 1e3, "%.2f"),
                    fmt((pct(job, tabs, "latencies", 99) or 0) * 1e3, "%.2f"),
                    fmt((pct(job, tabs, "navigations", 50) or 0) * 1e3, "%.1f"),
                )
            )
    print()
    print("| target | result |")
    print("|---|---|")
    sess_threads = [m("sessions", t, "peak_library_threads") for t in args.tabs]
    constant = None if None in sess_threads else len(set(sess_threads)) == 1
    print(
        "| sessions mode: constant library threads (%s for %s tabs) | %s |"
        % (
            ", ".join(fmt(v, "%.0f") for v in sess_threads),
            ", ".join(str(t) for t in args.tabs),
            verdict(constant),
        )
    )
    for tabs in args.tabs:
        walls = {}
        for job in ("sessions", "sockets"):
            if (job, tabs) in runs:
                walls[job] = median([run["open"] + run["drive"] for run in runs[(job, tabs)]])
        ok = None if len(walls) < 2 else walls["sessions"] <= walls["sockets"]
        print(
            "| sessions at least as fast as sockets, %d tabs (%s s vs %s s) | %s |"
            % (tabs, fmt(walls.get("sessions"), "%.2f"), fmt(walls.get("sockets"), "%.2f"), verdict(ok))
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"%s/%d" % key: value for key, value in runs.items()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
