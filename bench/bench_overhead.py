"""Client overhead without the browser's time, and a soak, against bench/fast_endpoint.py.

The endpoint runs in a separate process and answers every command at once with a
pre-encoded answer (and floods pre-encoded events in one write on request), so what is left
is the client. Interleaved in rounds (bare, syncdp sockets, syncdp sessions, ...):

6. round trip per command: syncdp's added microseconds over the bare websocket-client loop,
   Python CPU per command; events/s parse rate against the bare loop's; pipelined ``submit``
   throughput (one thread) and 4 threads on one connection against the bare loop's
   *sequential* rate.
7. soak: 1,000,000 events and 200,000 commands (1% of them time out on purpose, 0.1% are
   submitted and cancelled) through one syncdp connection: VmRSS growth, threads before and
   after, pending entries left.

Run: ``python bench/bench_overhead.py [--rounds 5] [--quick] [--skip-soak]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    EVAL,
    fast_endpoint,
    fmt,
    log,
    machine_lines,
    median,
    rss_kb,
    syncdp_threads,
    verdict,
)

from syncdp import CommandTimeoutError, ConnectionHandler  # noqa: E402

NOREPLY = {"method": "Bench.noreply", "params": {}}


class Bare:
    name = "bare websocket-client"

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, suppress_origin=True, skip_utf8_validation=True)
        self.next_id = 0

    def _call(self, method: str, params: Dict[str, Any]) -> Dict[str, Any]:
        self.next_id += 1
        cid = self.next_id
        self.ws.send(json.dumps({"id": cid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == cid:
                return msg  # type: ignore[no-any-return]

    def latency(self, n: int) -> List[float]:
        out = []
        perf = time.perf_counter
        for _ in range(n):
            t0 = perf()
            self._call("Runtime.evaluate", {"expression": "1+1"})
            out.append(perf() - t0)
        return out

    def events(self, n: int) -> float:
        self.next_id += 1
        t0 = time.perf_counter()
        self.ws.send(json.dumps({"id": self.next_id, "method": "Bench.flood", "params": {"count": n}}))
        seen = 0
        while seen < n:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == "Runtime.consoleAPICalled":
                seen += 1
        elapsed = time.perf_counter() - t0
        json.loads(self.ws.recv())  # the flood's answer
        return elapsed

    def pipelined(self, n: int) -> float:
        """Write all ``n`` commands, then read all ``n`` answers (one thread, no futures)."""
        send = self.ws.send
        recv = self.ws.recv
        dumps = json.dumps
        loads = json.loads
        first = self.next_id + 1
        t0 = time.perf_counter()
        for cid in range(first, first + n):
            send(dumps({"id": cid, "method": EVAL["method"], "params": EVAL["params"]}))
        answered = 0
        while answered < n:
            if "id" in loads(recv()):
                answered += 1
        elapsed = time.perf_counter() - t0
        self.next_id += n
        return elapsed

    def close(self) -> None:
        self.ws.close()


class Syncdp:
    def __init__(self, name: str, conn: Any, owner: Optional[ConnectionHandler] = None) -> None:
        self.name = name
        self.conn = conn
        self.owner = owner
        conn.connect()

    def latency(self, n: int) -> List[float]:
        out = []
        execute = self.conn.execute_command
        perf = time.perf_counter
        for _ in range(n):
            t0 = perf()
            execute(EVAL)
            out.append(perf() - t0)
        return out

    def events(self, n: int) -> float:
        done = threading.Event()
        count = [0]

        def on_console(event: Dict[str, Any]) -> None:
            count[0] += 1
            if count[0] == n:
                done.set()

        cid = self.conn.register_callback("Runtime.consoleAPICalled", on_console)
        t0 = time.perf_counter()
        future = self.conn.submit({"method": "Bench.flood", "params": {"count": n}})
        if not done.wait(300):
            raise RuntimeError("only %d of %d events" % (count[0], n))
        elapsed = time.perf_counter() - t0
        future.result(10)
        self.conn.remove_callback(cid)
        return elapsed

    def pipelined(self, n: int) -> float:
        submit = self.conn.submit
        t0 = time.perf_counter()
        futures = [submit(EVAL) for _ in range(n)]
        for future in futures:
            future.result(60)
        return time.perf_counter() - t0

    def threads(self, n: int, k: int) -> float:
        execute = self.conn.execute_command
        barrier = threading.Barrier(k + 1)

        def work(count: int) -> None:
            barrier.wait()
            for _ in range(count):
                execute(EVAL)

        shares = [n // k + (1 if i < n % k else 0) for i in range(k)]
        threads = [threading.Thread(target=work, args=(s,)) for s in shares]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    def close(self) -> None:
        self.conn.close()
        if self.owner is not None:
            self.owner.close()


def timed_cpu(fn: Callable[[], Any]) -> Any:
    c0 = time.process_time()
    value = fn()
    return value, time.process_time() - c0


def pipelined_round(contenders: List[Any], n: int, slices: int) -> Dict[str, Tuple[float, float]]:
    """One round of pipelining: ``n`` commands per contender, in ``slices`` bursts of n/slices,
    the contenders taking turns burst by burst (the order reversed every other burst), so a
    load spike on a shared machine hits every contender alike. Returns name -> (cmd/s, CPU
    seconds per command) over the round."""
    chunk = max(1, n // slices)
    seconds: Dict[str, float] = {c.name: 0.0 for c in contenders}
    cpu: Dict[str, float] = {c.name: 0.0 for c in contenders}
    for s in range(slices):
        for c in contenders if s % 2 == 0 else contenders[::-1]:
            took, used = timed_cpu(lambda c=c: c.pipelined(chunk))
            seconds[c.name] += took
            cpu[c.name] += used
    done = chunk * slices
    return {name: (done / seconds[name], cpu[name] / done) for name in seconds}


def overhead_suite(args: argparse.Namespace, url: str) -> Dict[str, Dict[str, List[float]]]:
    data: Dict[str, Dict[str, List[float]]] = {}

    def add(name: str, key: str, value: float) -> None:
        data.setdefault(name, {}).setdefault(key, []).append(value)

    root = ConnectionHandler(url)
    contenders: List[Any] = [
        Bare(url),
        Syncdp("syncdp sockets", ConnectionHandler(url)),
        Syncdp("syncdp sessions", root.attach("fast-target"), owner=root),
    ]
    for c in contenders:
        c.latency(500)  # warm-up
        c.pipelined(500)
    for r in range(args.rounds):
        for name, (rate, cpu) in pipelined_round(contenders, args.pipelined, args.slices).items():
            add(name, "pipelined", rate)
            add(name, "pipelined.cpu", cpu)
        if args.only_pipelined:
            log("pipelining round %d/%d done" % (r + 1, args.rounds))
            continue
        for c in contenders:
            samples, cpu = timed_cpu(lambda c=c: c.latency(args.commands))
            add(c.name, "latency", median(samples))
            add(c.name, "latency.cpu", cpu / args.commands)
            seconds, cpu = timed_cpu(lambda c=c: c.events(args.events))
            add(c.name, "events", args.events / seconds)
            add(c.name, "events.cpu", cpu / args.events)
            if isinstance(c, Syncdp):
                seconds, cpu = timed_cpu(lambda c=c: c.threads(args.pipelined, 4))
                add(c.name, "threads4", args.pipelined / seconds)
                add(c.name, "threads4.cpu", cpu / args.pipelined)
        log("overhead round %d/%d done" % (r + 1, args.rounds))
    for c in contenders:
        c.close()
    return data


def report_pipelining(args: argparse.Namespace, data: Dict[str, Dict[str, List[float]]]) -> None:
    """Pipelined ``submit()`` against the bare pipelined loop: per round and the median."""
    bare = data["bare websocket-client"]["pipelined"]
    names = [name for name in data if name != "bare websocket-client"]
    print()
    print("### 6b. Pipelining: submit() x N then result(), against the bare pipelined loop")
    print()
    print(
        "Per round: %d commands from one thread, in %d bursts of %d, the contenders taking turns "
        "burst by burst. The bare loop writes every command of a burst with websocket-client, "
        "then reads every answer (no futures, no reader thread); syncdp submit()s them all, then "
        "calls result() on each. Ratio: syncdp cmd/s / bare pipelined cmd/s in the same round "
        "(target >= 0.90)." % (args.pipelined, args.slices, args.pipelined // args.slices)
    )
    print()
    print("| round | bare pipelined cmd/s | %s |" % " | ".join("%s cmd/s | ratio" % n for n in names))
    print("|---:|---:|%s" % ("---:|---:|" * len(names)))
    ratios: Dict[str, List[float]] = {name: [] for name in names}
    for r, base in enumerate(bare):
        cells = []
        for name in names:
            rate = data[name]["pipelined"][r]
            ratios[name].append(rate / base)
            cells.append("%.0f | %.2f" % (rate, rate / base))
        print("| %d | %.0f | %s |" % (r + 1, base, " | ".join(cells)))
    print(
        "| median | %.0f | %s |"
        % (
            median(bare),
            " | ".join("%.0f | **%.2f**" % (median(data[n]["pipelined"]), median(ratios[n])) for n in names),
        )
    )
    cpu = data["bare websocket-client"]["pipelined.cpu"]
    print()
    print(
        "CPU us per pipelined command (median): bare %.1f; %s."
        % (
            median(cpu) * 1e6,
            "; ".join("%s %.1f" % (n, median(data[n]["pipelined.cpu"]) * 1e6) for n in names),
        )
    )


def report_overhead(args: argparse.Namespace, data: Dict[str, Dict[str, List[float]]]) -> None:
    def m(name: str, key: str) -> Optional[float]:
        values = data.get(name, {}).get(key)
        return median(values) if values else None

    bare = "bare websocket-client"
    bare_lat = m(bare, "latency")
    bare_rate = 1.0 / bare_lat if bare_lat else None
    print()
    print("### 6. Client overhead against the fast loopback endpoint (separate process)")
    print()
    print(
        "Medians over %d rounds; per round: %d sequential commands, %d events in one flood, "
        "%d pipelined / 4-thread commands." % (args.rounds, args.commands, args.events, args.pipelined)
    )
    print()
    print(
        "| client | RTT median us | added us over bare | CPU us/cmd | x bare | events/s | x bare "
        "| CPU us/event | x bare | submit 1 thread cmd/s | x bare seq. rate | 4 threads cmd/s "
        "| x bare seq. rate |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in data:
        lat = m(name, "latency")
        cpu = m(name, "latency.cpu")
        ev = m(name, "events")
        ecpu = m(name, "events.cpu")
        pipe = m(name, "pipelined")
        thr = m(name, "threads4")
        print(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                name,
                fmt(lat * 1e6 if lat else None),
                fmt((lat - bare_lat) * 1e6 if lat and bare_lat else None, "%+.1f"),
                fmt(cpu * 1e6 if cpu else None),
                fmt(cpu / m(bare, "latency.cpu") if cpu and m(bare, "latency.cpu") else None, "%.2f"),  # type: ignore[operator]
                fmt(ev, "%.0f"),
                fmt(ev / m(bare, "events") if ev and m(bare, "events") else None, "%.2f"),  # type: ignore[operator]
                fmt(ecpu * 1e6 if ecpu else None),
                fmt(ecpu / m(bare, "events.cpu") if ecpu and m(bare, "events.cpu") else None, "%.2f"),  # type: ignore[operator]
                fmt(pipe, "%.0f"),
                fmt(pipe / bare_rate if pipe and bare_rate else None, "%.2f"),
                fmt(thr, "%.0f"),
                fmt(thr / bare_rate if thr and bare_rate else None, "%.2f"),
            )
        )
    print()
    print("| target (fast endpoint) | syncdp sockets | syncdp sessions |")
    print("|---|---|---|")

    def row(label: str, check: Callable[[str], Optional[bool]]) -> None:
        print(
            "| %s | %s | %s |" % (label, verdict(check("syncdp sockets")), verdict(check("syncdp sessions")))
        )

    def added(s: str) -> Optional[bool]:
        lat = m(s, "latency")
        return None if lat is None or bare_lat is None else (lat - bare_lat) * 1e6 <= 20

    def parse(s: str) -> Optional[bool]:
        ev, base = m(s, "events"), m(bare, "events")
        return None if ev is None or base is None else ev >= 0.7 * base

    def pipelined(s: str) -> Optional[bool]:
        pipe = m(s, "pipelined")
        return None if pipe is None or bare_rate is None else pipe >= 3 * bare_rate

    def threads4(s: str) -> Optional[bool]:
        thr = m(s, "threads4")
        return None if thr is None or bare_rate is None else thr >= 3 * bare_rate

    row("at most +20 us per command over bare", added)
    row("events parse rate >= 0.7x bare", parse)
    row("pipelined submit >= 3x bare sequential rate", pipelined)
    row("4 threads on one connection >= 3x bare sequential rate", threads4)


# -- soak -----------------------------------------------------------------------------------


def soak(args: argparse.Namespace, url: str) -> None:
    cycles = 10
    events_per_cycle = args.soak_events // cycles
    commands_per_cycle = args.soak_commands // cycles
    flood = 50_000 if events_per_cycle >= 50_000 else events_per_cycle
    workers = 4
    gc.collect()
    threads_before = threading.active_count()
    rss_start = rss_kb()
    conn = ConnectionHandler(url)
    conn.connect()
    threads_connected = threading.active_count()
    seen = [0]
    lock = threading.Lock()
    target = [0]
    done = threading.Event()

    def on_console(event: Dict[str, Any]) -> None:
        seen[0] += 1
        if seen[0] >= target[0]:
            done.set()

    conn.register_callback("Runtime.consoleAPICalled", on_console)
    counters = {"ok": 0, "timeouts": 0, "cancelled": 0, "errors": 0}

    def commands(count: int) -> None:
        local = {"ok": 0, "timeouts": 0, "cancelled": 0, "errors": 0}
        for i in range(count):
            try:
                if i % 1000 == 999:
                    future = conn.submit(NOREPLY)
                    if future.cancel():
                        local["cancelled"] += 1
                elif i % 100 == 99:
                    try:
                        conn.execute_command(NOREPLY, timeout=0.02)
                    except CommandTimeoutError:
                        local["timeouts"] += 1
                else:
                    conn.execute_command(EVAL)
                    local["ok"] += 1
            except Exception:
                local["errors"] += 1
        with lock:
            for key, value in local.items():
                counters[key] += value

    rss_trace: List[int] = []
    t0 = time.perf_counter()
    event_seconds = 0.0
    command_seconds = 0.0
    for cycle in range(cycles):
        e0 = time.perf_counter()
        sent = 0
        while sent < events_per_cycle:
            batch = min(flood, events_per_cycle - sent)
            done.clear()
            target[0] = seen[0] + batch
            conn.execute_command({"method": "Bench.flood", "params": {"count": batch}}, timeout=120)
            if not done.wait(300):
                raise RuntimeError("soak: events stalled at %d" % seen[0])
            sent += batch
        c0 = time.perf_counter()
        event_seconds += c0 - e0
        share = commands_per_cycle // workers
        pool = [threading.Thread(target=commands, args=(share,)) for _ in range(workers)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        command_seconds += time.perf_counter() - c0
        gc.collect()
        rss_trace.append(rss_kb())
        log("soak cycle %d/%d: %d events, RSS %d kB" % (cycle + 1, cycles, seen[0], rss_trace[-1]))
    elapsed = time.perf_counter() - t0
    pending_open = conn.pending_commands
    conn.close()
    pending_closed = conn.pending_commands
    gc.collect()
    time.sleep(0.2)  # let the OS settle the thread exits (joined already by close())
    threads_after = threading.active_count()
    rss_end = rss_kb()
    total_commands = sum(counters.values())
    growth_warm = (rss_trace[-1] - rss_trace[0]) / rss_trace[0] * 100
    growth_all = (rss_trace[-1] - rss_start) / rss_start * 100
    print()
    print("### 7. Soak: one syncdp connection against the fast endpoint")
    print()
    print(
        "%d events (floods of %d) and %d commands (%d workers; %d answered, %d timed out on purpose, "
        "%d submitted and cancelled, %d other errors) in %.1f s (events %.1f s, commands %.1f s)."
        % (
            seen[0],
            flood,
            total_commands,
            workers,
            counters["ok"],
            counters["timeouts"],
            counters["cancelled"],
            counters["errors"],
            elapsed,
            event_seconds,
            command_seconds,
        )
    )
    print()
    print("| measure | value |")
    print("|---|---:|")
    print("| VmRSS before connecting | %d kB |" % rss_start)
    print("| VmRSS after cycle 1 of %d (warm) | %d kB |" % (cycles, rss_trace[0]))
    print("| VmRSS after the last cycle | %d kB |" % rss_trace[-1])
    print("| VmRSS after close() | %d kB |" % rss_end)
    print("| RSS growth, warm (cycle 1 to last) | %+.1f%% |" % growth_warm)
    print("| RSS growth, from before connecting | %+.1f%% |" % growth_all)
    print(
        "| threads before / connected / after close() | %d / %d / %d |"
        % (threads_before, threads_connected, threads_after)
    )
    print("| syncdp-* threads left after close() | %d |" % syncdp_threads())
    print("| pending entries before close() / after | %d / %d |" % (pending_open, pending_closed))
    print("| RSS per cycle (kB) | %s |" % " ".join(str(v) for v in rss_trace))
    print()
    print("| target (soak) | result |")
    print("|---|---|")
    print("| RSS growth under 5%% (warm) | %s |" % verdict(growth_warm < 5))
    print("| RSS growth under 5%% (from before connecting) | %s |" % verdict(growth_all < 5))
    print(
        "| zero threads and pending entries left | %s |"
        % verdict(
            threads_after == threads_before
            and pending_open == 0
            and pending_closed == 0
            and syncdp_threads() == 0
        )
    )


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--commands", type=int, default=5000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--pipelined", type=int, default=10_000)
    parser.add_argument(
        "--slices", type=int, default=10, help="bursts per pipelining round, contenders alternating"
    )
    parser.add_argument("--soak-events", type=int, default=1_000_000)
    parser.add_argument("--soak-commands", type=int, default=200_000)
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--only-soak", action="store_true")
    parser.add_argument(
        "--only-pipelined", action="store_true", help="only the pipelining rows (6b), no soak"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not figures")
    parser.add_argument("--json", help="also write the raw per-round values here")
    args = parser.parse_args(argv)
    if args.only_pipelined:
        args.skip_soak = True
    if args.quick:
        args.rounds, args.commands, args.events, args.pipelined = 1, 500, 5000, 1000
        args.slices = 2
        args.soak_events, args.soak_commands = 50_000, 8_000
    for line in machine_lines():
        print(line)
    print("command: python bench/bench_overhead.py %s" % " ".join(argv))
    with fast_endpoint() as url:
        if not args.only_soak:
            data = overhead_suite(args, url)
            if not args.only_pipelined:
                report_overhead(args, data)
            report_pipelining(args, data)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(data, f, indent=1)
        if not args.skip_soak:
            soak(args, url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
