"""The cost curve from 1 to 1,000 tabs: syncdp's sessions mode and pipe mode (issue 16, part 2).

Each job (mode, N) runs in its own Python process with a freshly launched headless Chromium:

1. ``Chrome()`` (``sessions``: flattened sessions on one websocket) or ``Chrome(pipe=True)``
   (``pipe``: the same sessions on ``--remote-debugging-pipe``), first tab opened
   (``get_page()``); RSS and threads read.
2. The other N - 1 tabs opened (``browser.new_tab(url)``) from 8 threads: "open s" (the
   first tab is not in it). RSS (``VmRSS`` after ``gc.collect()``) and threads read again:
   "RSS/tab" is the growth divided by N - 1.
3. Round trips: ``tab.send("Runtime.evaluate", {"expression": "1+1"})`` on the first tab,
   ``--evals`` times after 50 warm-up calls, while the N tabs are open (idle).
4. Flood: every tab enables Runtime and gets a ``Runtime.consoleAPICalled`` callback; each
   tab then runs a loop of ``console.log`` (``--events`` messages in all, split over the
   tabs) starting at one wall-clock instant (``setTimeout`` to a common ``Date.now()``);
   events/s = events delivered to callbacks / (time of the last one - that instant).

Jobs run interleaved in rounds (every mode and N once per round; the biggest N first), and
the tables show medians over rounds. ``--plot`` draws round trip and RSS/tab against N.

Chromium's own cost per tab is a renderer process per tab unless ``--renderer-limit`` passes
``--renderer-process-limit`` (the published curve: 8). ``--routing`` measures the router alone
(no browser) with N session routes; ``--json`` saves after every job and ``--from-json`` merges
saved runs into the tables and the chart.

Run: ``python bench/bench_curve.py [--rounds 3] [--tabs 1 10 100 500 1000] [--renderer-limit 8]
[--json FILE] [--plot PNG]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    CHROMIUM,
    browser_pids,
    fmt,
    log,
    machine_lines,
    median,
    percentile,
    rss_kb,
    run_threads,
    verdict,
)

PAGE = "<!doctype html><html><head><title>curve</title></head><body><p>tab</p></body></html>"
MODES = ("sessions", "pipe")
WORKERS = 8
EVAL = {"expression": "1+1"}


def open_tabs(browser: Any, count: int, url: str, workers: int) -> Tuple[float, List[Any]]:
    """Open ``count`` tabs from ``workers`` threads; returns (seconds, tabs)."""
    tabs: List[Any] = []
    errors: List[BaseException] = []
    lock = threading.Lock()
    left = [count]

    def work() -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            try:
                tab = browser.new_tab(url)
            except BaseException as exc:  # reported below
                with lock:
                    errors.append(exc)
                    left[0] = 0
                return
            with lock:
                tabs.append(tab)

    elapsed = run_threads(work, workers, "bench-open")
    if errors:
        raise RuntimeError("%d of %d tabs opened, then: %r" % (len(tabs), count, errors[0]))
    return elapsed, tabs


def in_threads(items: List[Any], function: Any, workers: int) -> None:
    """``function(item)`` for every item, from ``workers`` threads."""
    lock = threading.Lock()
    todo = list(items)
    errors: List[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                if not todo or errors:
                    return
                item = todo.pop()
            try:
                function(item)
            except BaseException as exc:
                with lock:
                    errors.append(exc)

    threads = [threading.Thread(target=work, name="bench-work-%d" % i) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("failed: %r" % errors[0])


def browser_memory() -> Tuple[int, float]:
    """(Chromium processes below this one, the sum of their PSS in MB)."""
    pids = browser_pids()
    total_kb = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except OSError:
            continue
    return len(pids), total_kb / 1024


def round_trips(tab: Any, count: int) -> Tuple[List[float], float]:
    """``count`` timed round trips after 50 warm-up ones; (latencies, CPU seconds of all)."""
    for _ in range(50):
        tab.send("Runtime.evaluate", EVAL)
    out = []
    clock = time.perf_counter
    cpu0 = time.process_time()
    for _ in range(count):
        t = clock()
        tab.send("Runtime.evaluate", EVAL)
        out.append(clock() - t)
    return out, time.process_time() - cpu0


def bare_round_trips(port: int, target_id: str, count: int) -> List[float]:
    """The browser's floor: a bare websocket-client loop on the tab's own DevTools socket."""
    import websocket

    ws = websocket.create_connection("ws://127.0.0.1:%d/devtools/page/%s" % (port, target_id),
                                     enable_multithread=False, skip_utf8_validation=True)
    try:
        out = []
        clock = time.perf_counter
        for i in range(count + 50):
            t = clock()
            ws.send(json.dumps({"id": i + 1, "method": "Runtime.evaluate", "params": EVAL}))
            while json.loads(ws.recv()).get("id") != i + 1:
                pass
            if i >= 50:
                out.append(clock() - t)
        return out
    finally:
        ws.close()


def flood(tabs: List[Any], total: int, timeout: float) -> Dict[str, Any]:
    """Every tab logs ``total / len(tabs)`` console messages from one instant on."""
    per_tab = max(1, total // len(tabs))
    expected = per_tab * len(tabs)
    state = {"count": 0, "last": 0.0}
    done = threading.Event()
    lock = threading.Lock()

    def on_log(event: Dict[str, Any]) -> None:
        now = time.time()
        with lock:
            state["count"] += 1
            state["last"] = now
            if state["count"] >= expected:
                done.set()

    in_threads(tabs, lambda tab: (tab.on("Runtime.consoleAPICalled", on_log), tab.send("Runtime.enable")),
               WORKERS)
    # Scheduling the loops takes a while on 1,000 tabs: start them all 1 s after the last one.
    start_ms = [0.0]
    started = threading.Event()

    def schedule(tab: Any) -> None:
        started.wait()
        tab.send(
            "Runtime.evaluate",
            {
                "expression": "setTimeout(() => { for (let i = 0; i < %d; i++) console.log('m', i); }, "
                "Math.max(0, %d - Date.now())); 0" % (per_tab, int(start_ms[0])),
            },
        )

    start_ms[0] = time.time() * 1e3 + 1000 + 3 * len(tabs)
    t0 = time.time()
    started.set()
    in_threads(tabs, schedule, WORKERS)
    scheduled = time.time() - t0
    late = time.time() * 1e3 > start_ms[0]
    cpu0 = time.process_time()  # the loops start later: this CPU is the delivery's
    ok = done.wait(timeout)
    cpu = time.process_time() - cpu0
    with lock:
        count, last = state["count"], state["last"]
    elapsed = last - start_ms[0] / 1e3
    return {
        "flood_events": count,
        "flood_expected": expected,
        "flood_complete": ok,
        "flood_late_start": late,
        "flood_schedule_s": scheduled,
        "flood_s": elapsed,
        "events_per_s": count / elapsed if elapsed > 0 else float("nan"),
        "cpu_per_event_us": cpu / count * 1e6 if count else float("nan"),
    }


def job(mode: str, n: int, url: str, evals: int, events: int, renderers: int) -> Dict[str, Any]:
    from syncdp import Chrome

    result: Dict[str, Any] = {"mode": mode, "tabs": n}
    t0 = time.perf_counter()
    arguments = ["--renderer-process-limit=%d" % renderers] if renderers else []
    browser = Chrome(binary_location=CHROMIUM, pipe=(mode == "pipe"), arguments=arguments).start()
    try:
        first = browser.get_page()
        first.go_to(url)
        first.send("Runtime.evaluate", EVAL)
        result["launch_s"] = time.perf_counter() - t0
        gc.collect()
        result["rss1_kb"] = rss_kb()
        result["threads1"] = threading.active_count()
        try:
            opened, tabs = open_tabs(browser, n - 1, url, WORKERS)
        except RuntimeError as exc:  # say whether the browser is still there, and what it said
            process = browser.process
            raise RuntimeError("%s\nbrowser running: %s, exit status %s; its stderr ends with:\n%s" % (
                exc, process.is_running(), process.returncode, process.stderr_tail)) from exc
        result["open_s"] = opened
        gc.collect()
        result["rssN_kb"] = rss_kb()
        result["threadsN"] = threading.active_count()
        result["browser_processes"], result["browser_pss_mb"] = browser_memory()
        result["rss_per_tab_kb"] = (
            (result["rssN_kb"] - result["rss1_kb"]) / (n - 1) if n > 1 else float("nan")
        )
        result["latencies"], cpu = round_trips(first, evals)
        result["cpu_per_eval_us"] = cpu / evals * 1e6
        if mode == "sessions":  # a pipe has no port: no bare socket to compare with
            result["bare_latencies"] = bare_round_trips(browser.process.port, first.target_id, evals)
        result.update(flood([first] + tabs, events, timeout=120))
        result["threads_flood"] = threading.active_count()
        result["peak_rss_kb"] = rss_kb(field="VmHWM")
        log("%s x%d: open %.2fs, evaluate p50 %.0f us (bare %.0f us), %.0f us CPU, %.0f events/s" % (
            mode, n, opened, percentile(result["latencies"], 50) * 1e6,
            percentile(result.get("bare_latencies", []), 50) * 1e6, result["cpu_per_eval_us"],
            result["events_per_s"]))
    finally:
        t = time.perf_counter()
        browser.stop()
        result["stop_s"] = time.perf_counter() - t
    return result


def routing_cost(sizes: List[int], messages: int = 100000, rounds: int = 5) -> List[str]:
    """The router alone, no wire and no browser: us per message with N session routes.

    Per size: ``messages`` session events (spread over the N sessions, no callback) and as
    many answers, routed by ``Router.route_all`` in batches of 100; best of ``rounds``.
    """
    from syncdp.connection.commands import CommandManager
    from syncdp.connection.router import Route, Router

    lines = ["| session routes | us per session event | us per answer |", "|---:|---:|---:|"]
    for n in sizes:
        routes = {"S%d" % i: Route("S%d" % i, 1000) for i in range(n)}
        commands = CommandManager()
        router = Router(commands, Route(None, 1000), routes, lambda batch: None)
        events = [json.dumps({"method": "Runtime.consoleAPICalled", "params": {"type": "log"},
                              "sessionId": "S%d" % (i % n)}) for i in range(messages)]
        best_event = best_answer = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            for i in range(0, messages, 100):
                router.route_all(events[i:i + 100])
            best_event = min(best_event, (time.perf_counter() - t0) / messages)
            ids = [commands.create_command_future("Runtime.evaluate", "S%d" % (i % n))[0]
                   for i in range(messages)]
            answers = [json.dumps({"id": i, "result": {}, "sessionId": "S0"}) for i in ids]
            t0 = time.perf_counter()
            for i in range(0, messages, 100):
                router.route_all(answers[i:i + 100])
            best_answer = min(best_answer, (time.perf_counter() - t0) / messages)
        lines.append("| %d | %.2f | %.2f |" % (n, best_event * 1e6, best_answer * 1e6))
    return lines


def spawn(mode: str, n: int, url: str, args: argparse.Namespace) -> Dict[str, Any]:
    command = [sys.executable, os.path.abspath(__file__), "--job", mode, "--tabs", str(n),
               "--url", url, "--evals", str(args.evals), "--events", str(args.events),
               "--renderer-limit", str(args.renderer_limit)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=args.job_timeout)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise RuntimeError("job %s x%d failed:\n%s" % (mode, n, out.stderr[-3000:]))
    found: Dict[str, Any] = json.loads(lines[-1])
    return found


def table(runs: Dict[Tuple[str, int], List[Dict[str, Any]]], sizes: List[int]) -> List[str]:
    def m(mode: str, n: int, key: str, scale: float = 1.0) -> Optional[float]:
        values = [r[key] * scale for r in runs.get((mode, n), []) if key in r and r[key] == r[key]]
        return median(values) if values else None

    def pct(mode: str, n: int, q: float, key: str = "latencies") -> Optional[float]:
        values = [percentile(r[key], q) * 1e6 for r in runs.get((mode, n), []) if r.get(key)]
        return median(values) if values else None

    lines = [
        "| mode | tabs | rounds | evaluate p50 us | p90 us | p50 vs 1 tab | CPU us/evaluate | "
        "bare socket p50 us | RSS/tab KB | threads (1 tab / N / flood) | open N s | events/s | "
        "CPU us/event | events delivered | Chromium processes, PSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for mode in MODES:
        one = pct(mode, 1, 50)
        for n in sizes:
            found = runs.get((mode, n))
            if not found:
                lines.append("| %s | %d | 0 | did not run | | | | | | | | | | | |" % (mode, n))
                continue
            p50 = pct(mode, n, 50)
            delivered = "%s of %s" % (
                fmt(m(mode, n, "flood_events"), "%.0f"), fmt(m(mode, n, "flood_expected"), "%.0f"))
            lines.append(
                "| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s | %s | %s | %s, %s |"
                % (
                    mode, n, len(found), fmt(p50, "%.0f"), fmt(pct(mode, n, 90), "%.0f"),
                    fmt(p50 / one if p50 and one else None, "%.2fx"),
                    fmt(m(mode, n, "cpu_per_eval_us"), "%.0f"),
                    fmt(pct(mode, n, 50, "bare_latencies"), "%.0f"),
                    fmt(m(mode, n, "rss_per_tab_kb"), "%.1f"),
                    fmt(m(mode, n, "threads1"), "%.0f"), fmt(m(mode, n, "threadsN"), "%.0f"),
                    fmt(m(mode, n, "threads_flood"), "%.0f"),
                    fmt(m(mode, n, "open_s"), "%.2f"), fmt(m(mode, n, "events_per_s"), "%.0f"),
                    fmt(m(mode, n, "cpu_per_event_us"), "%.0f"),
                    delivered,
                    fmt(m(mode, n, "browser_processes"), "%.0f"),
                    fmt(m(mode, n, "browser_pss_mb"), "%.0f"),
                )
            )
    lines += ["", "| target | figure | verdict |", "|---|---|---|"]
    big = max(sizes)
    for mode in MODES:
        one, most = pct(mode, 1, 50), pct(mode, big, 50)
        ratio = most / one if one and most else None
        lines.append("| %s: evaluate p50 at %d tabs <= 1.2x 1 tab | %s | %s |" % (
            mode, big, fmt(ratio, "%.2fx"), verdict(None if ratio is None else ratio <= 1.2)))
        per_tab = m(mode, big, "rss_per_tab_kb")
        lines.append("| %s: RSS per tab beyond the first <= 50 KB (%d tabs) | %s KB | %s |" % (
            mode, big, fmt(per_tab, "%.1f"), verdict(None if per_tab is None else per_tab <= 50)))
        counts = {r[k] for n in sizes for r in runs.get((mode, n), [])
                  for k in ("threads1", "threadsN", "threads_flood")}
        lines.append("| %s: threads constant | %s | %s |" % (
            mode, ", ".join(str(c) for c in sorted(counts)), verdict(len(counts) == 1 if counts else None)))
    return lines


def plot(runs: Dict[Tuple[str, int], List[Dict[str, Any]]], sizes: List[int], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode, marker in zip(MODES, ("o", "s")):
        xs = [n for n in sizes if runs.get((mode, n))]
        p50 = [median([percentile(r["latencies"], 50) * 1e6 for r in runs[(mode, n)]]) for n in xs]
        p90 = [median([percentile(r["latencies"], 90) * 1e6 for r in runs[(mode, n)]]) for n in xs]
        left.plot(xs, p50, marker=marker, label="%s p50" % mode)
        left.plot(xs, p90, marker=marker, linestyle="--", label="%s p90" % mode)
        bare = [median([percentile(r["bare_latencies"], 50) * 1e6 for r in runs[(mode, n)]
                        if r.get("bare_latencies")] or [float("nan")]) for n in xs]
        if any(b == b for b in bare):
            left.plot(xs, bare, marker="x", linestyle=":", color="grey",
                      label="bare websocket-client loop p50 (same tab)")
        xs2 = [n for n in xs if n > 1]
        per_tab = [median([r["rss_per_tab_kb"] for r in runs[(mode, n)]]) for n in xs2]
        right.plot(xs2, per_tab, marker=marker, label=mode)
    left.set(xscale="log", xlabel="open tabs", ylabel="Runtime.evaluate round trip (us)",
             title="Round trip on one tab while N are open")
    left.set_ylim(bottom=0)
    right.axhline(50, color="grey", linestyle=":", label="target 50 KB")
    right.set(xscale="log", xlabel="open tabs", ylabel="Python RSS per tab beyond the first (KB)",
              title="Python memory per open tab")
    right.set_ylim(bottom=0)
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 10, 100, 500, 1000])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--evals", type=int, default=1000, help="round trips timed per job")
    parser.add_argument("--events", type=int, default=20000, help="console messages per flood")
    parser.add_argument("--renderer-limit", type=int, default=0,
                        help="--renderer-process-limit for Chromium (0: Chromium's default)")
    parser.add_argument("--job-timeout", type=float, default=900)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not figures")
    parser.add_argument("--plot", help="write the chart (PNG) here")
    parser.add_argument("--json", help="also write the raw per-round values here")
    parser.add_argument("--routing", action="store_true",
                        help="only the router's cost per message with N session routes (no browser)")
    parser.add_argument("--from-json", nargs="+",
                        help="print the tables (and --plot) of saved --json runs, merged")
    parser.add_argument("--job", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:
        print(json.dumps(job(args.job, args.tabs[0], args.url, args.evals, args.events,
                             args.renderer_limit)))
        return 0
    if args.quick:
        args.rounds, args.tabs, args.evals, args.events = 1, [1, 10], 200, 2000
    if args.routing:
        print("\n".join(routing_cost(sorted(args.tabs))))
        return 0
    if args.from_json:  # the tables and the chart again, from a saved run
        runs = {}
        for path in args.from_json:  # several saved runs: their rounds together
            for key, value in load(path).items():
                runs.setdefault(key, []).extend(value)
        sizes = sorted({n for _mode, n in runs})
        print("\n".join(table(runs, sizes)))
        if args.plot:
            plot(runs, sizes, args.plot)
        return 0

    from syncdp.localserver import LocalServer

    for line in machine_lines():
        print(line)
    print("command: python bench/bench_curve.py %s" % " ".join(argv))
    runs: Dict[Tuple[str, int], List[Dict[str, Any]]] = {}
    sizes = sorted(args.tabs)
    with LocalServer({"/": PAGE}) as server:
        url = server.url("/")
        for r in range(args.rounds):
            for n in sorted(sizes, reverse=True):
                for mode in args.modes if r % 2 == 0 else list(reversed(args.modes)):
                    t0 = time.perf_counter()
                    try:
                        result = spawn(mode, n, url, args)
                    except Exception as exc:
                        log("round %d %s x%d: %s" % (r + 1, mode, n, exc))
                        continue
                    runs.setdefault((mode, n), []).append(result)
                    if args.json:  # after every job: a run cut short keeps what it measured
                        save(runs, args.json)
                    log("round %d/%d %s x%d done in %.0f s" % (r + 1, args.rounds, mode, n,
                                                              time.perf_counter() - t0))
    print("load average at the end %.2f %.2f %.2f" % os.getloadavg())
    print()
    for line in table(runs, sizes):
        print(line)
    if args.plot:
        plot(runs, sizes, args.plot)
    return 0


def save(runs: Dict[Tuple[str, int], List[Dict[str, Any]]], path: str) -> None:
    with open(path, "w") as f:
        json.dump({"%s/%d" % key: value for key, value in runs.items()}, f)


def load(path: str) -> Dict[Tuple[str, int], List[Dict[str, Any]]]:
    with open(path) as f:
        raw = json.load(f)
    return {(key.split("/")[0], int(key.split("/")[1])): value for key, value in raw.items()}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
