"""Remote browser over a slow link: round trips, pipelining, threads, a 20 MB result and a
full-page screenshot, on a link with 25 ms round trip and, for comparison, the same link
without delay.

The browser runs in a network namespace with a veth pair (``tests/integration/remote_hosts.py``;
root needed). The 25 ms come from ``tc qdisc add dev VETH root netem delay 25ms`` when the
kernel has netem; otherwise from a forwarder in the namespace that releases every chunk
12.5 ms after it came, each way (this machine's kernel has no ``sch_netem``: the figures
say which was used). Medians of several rounds; figures on stdout, progress on stderr.

    sudo python bench/bench_remote.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import remote_hosts  # noqa: E402
from _common import log, median  # noqa: E402

import syncdp  # noqa: E402

EVAL = {"expression": "1+1", "returnByValue": True}
TALL_PAGE = (
    "data:text/html,<body style='margin:0'><div style='height:8000px;"
    "background:linear-gradient(red,blue)'></div></body>"
)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sequential(tab: Any, n: int) -> float:
    """Median seconds of one Runtime.evaluate, one after the other."""
    return median([timed(lambda: tab.send("Runtime.evaluate", EVAL)) for _ in range(n)])


def pipelined(tab: Any, n: int) -> float:
    """Commands per second with ``n`` submitted at once (submit(): one round trip for all)."""
    command = {"method": "Runtime.evaluate", "params": EVAL}

    def run() -> None:
        futures = [tab.connection.submit(command) for _ in range(n)]
        for future in futures:
            future.result(timeout=60)

    return n / timed(run)


def threaded(tab: Any, threads: int, each: int) -> float:
    """Commands per second with ``threads`` threads, each sending ``each`` one after the other."""

    def worker() -> None:
        for _ in range(each):
            tab.send("Runtime.evaluate", EVAL)

    def run() -> None:
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()

    return threads * each / timed(run)


def big_result(tab: Any, megabytes: int) -> float:
    expression = "'x'.repeat(%d)" % (megabytes * 1024 * 1024)
    return timed(lambda: tab.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                  timeout=120))


# -- the link itself, without syncdp or Chromium: a TCP echo / bulk server in the namespace ----

RAW_PORT = 9300
BIG = 20 * 1024 * 1024


def serve(port: int) -> None:
    """``echo``: echo every byte; ``blast N``: send N bytes and close (run in the namespace)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve_one, args=(conn,), daemon=True).start()


def _serve_one(conn: socket.socket) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        line = b""
        while not line.endswith(b"\n"):  # byte by byte: what follows the line is the echo's
            byte = conn.recv(1)
            if not byte:
                return
            line += byte
        request = line.split()
        if request[:1] == [b"blast"]:
            conn.sendall(b"x" * int(request[1]))
            return
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)


def raw_link(addr: str, port: int, rounds: int) -> Dict[str, float]:
    """The link's own round trip (1-byte TCP echo) and 20 MB bulk time."""
    with socket.create_connection((addr, port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"echo\n")
        rtts = []
        for _ in range(30):
            start = time.perf_counter()
            sock.sendall(b"!")
            sock.recv(1)
            rtts.append(time.perf_counter() - start)

    def blast() -> None:
        with socket.create_connection((addr, port), timeout=60) as sock:
            sock.sendall(b"blast %d\n" % BIG)
            got = 0
            while True:
                data = sock.recv(1 << 20)
                if not data:
                    break
                got += len(data)
            assert got == BIG, got

    return {"rtt": median(rtts), "bulk": median([timed(blast) for _ in range(rounds)])}


def measure(url: str, rounds: int) -> Dict[str, float]:
    browser = syncdp.connect(url)
    try:
        tab = browser.new_tab("about:blank")
        tab.send("Runtime.evaluate", EVAL)  # warm up
        figures: Dict[str, List[float]] = {k: [] for k in ("seq", "pipe", "threads", "big", "shot")}
        shot_size = 0
        tab.go_to(TALL_PAGE)
        for index in range(rounds):
            log("  round %d/%d" % (index + 1, rounds))
            figures["seq"].append(sequential(tab, 30))
            figures["pipe"].append(pipelined(tab, 400))
            figures["threads"].append(threaded(tab, 8, 30))
            figures["big"].append(big_result(tab, 20))
            start = time.perf_counter()
            shot_size = len(tab.take_screenshot(full_page=True))
            figures["shot"].append(time.perf_counter() - start)
        result = {key: median(values) for key, values in figures.items()}
        result["shot_bytes"] = float(shot_size)
        return result
    finally:
        browser.stop()


def delayed_link(host: remote_hosts.RemoteHost) -> Tuple[str, str]:
    """A 25 ms round-trip link to the browser: netem if the kernel has it, else a forwarder."""
    done = subprocess.run(["tc", "qdisc", "add", "dev", host.host_if, "root", "netem", "delay", "25ms"],
                          capture_output=True, text=True)
    if done.returncode == 0:
        return host.url, "tc netem delay 25ms on the veth"
    log("  no netem here (%s): a forwarder delays each way by 12.5 ms" % done.stderr.strip())
    return host.start_forward(9223, 12.5), "forwarder in the namespace, 12.5 ms each way (no sch_netem)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the in-namespace server
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
    reason = remote_hosts.unavailable_reason()
    if reason:
        sys.exit("bench_remote: " + reason)
    remote_hosts.remove_stale()
    host = remote_hosts.RemoteHost(0)
    try:
        host.create_network()
        host.start_browser()
        host.spawn("raw", [sys.executable, os.path.abspath(__file__), "--serve", str(RAW_PORT)])
        host.start_forward(RAW_PORT + 1, 0.0, RAW_PORT)
        time.sleep(1.0)  # a benchmark script: let the two small servers bind
        log("veth, no delay: %s" % host.url)
        plain = measure(host.url, args.rounds)
        plain.update(raw_link(host.addr, RAW_PORT + 1, args.rounds))
        slow_url, how = delayed_link(host)
        raw_port = RAW_PORT + 1
        if slow_url != host.url:
            raw_port = RAW_PORT + 2
            host.start_forward(raw_port, 12.5, RAW_PORT)
            time.sleep(1.0)
        log("25 ms link: %s (%s)" % (slow_url, how))
        slow = measure(slow_url, args.rounds)
        slow.update(raw_link(host.addr, raw_port, args.rounds))
    finally:
        host.close()
    print("Remote browser (Chromium in a network namespace, syncdp %s, Python %s), medians of %d rounds"
          % (syncdp.__version__, sys.version.split()[0], args.rounds))
    print("25 ms link: %s" % how)
    print("| measure | veth, no delay | 25 ms round trip |")
    print("|---|---|---|")
    rows = [
        ("link round trip (TCP echo, same path), ms", "rtt", lambda v: "%.2f" % (v * 1000)),
        ("sequential Runtime.evaluate, ms each", "seq", lambda v: "%.2f" % (v * 1000)),
        ("sequential rate, commands/s", "seq", lambda v: "%.0f" % (1 / v)),
        ("submit() x 400 pipelined, commands/s", "pipe", lambda v: "%.0f" % v),
        ("8 threads x 30 sequential, commands/s", "threads", lambda v: "%.0f" % v),
        ("20 MB string result, s", "big", lambda v: "%.2f" % v),
        ("20 MB string result, MB/s", "big", lambda v: "%.0f" % (20 / v)),
        ("20 MB raw TCP over the same path, s", "bulk", lambda v: "%.2f" % v),
        ("full-page screenshot (1280x8000 PNG), s", "shot", lambda v: "%.2f" % v),
    ]
    for title, key, show in rows:
        print("| %s | %s | %s |" % (title, show(plain[key]), show(slow[key])))
    print("| screenshot size, KB | %.0f | %.0f |" % (plain["shot_bytes"] / 1024, slow["shot_bytes"] / 1024))
    print("pipelined / sequential on the 25 ms link: %.1fx; 8 threads / sequential: %.1fx"
          % (slow["pipe"] * slow["seq"], slow["threads"] * slow["seq"]))
    print("extra time of the 25 ms link: 20 MB result %+.0f ms (raw TCP: %+.0f ms), screenshot %+.0f ms"
          % ((slow["big"] - plain["big"]) * 1000, (slow["bulk"] - plain["bulk"]) * 1000,
             (slow["shot"] - plain["shot"]) * 1000))
    print("load average at the end: %s" % open("/proc/loadavg").read().split()[:3])


if __name__ == "__main__":
    main()
