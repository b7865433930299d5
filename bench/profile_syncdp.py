"""Profile one syncdp workload against the fast endpoint (for py-spy or cProfile).

::

    py-spy record --threads --format raw -o /tmp/lat.txt -- python bench/profile_syncdp.py latency
    python bench/profile_syncdp.py latency --cprofile   # main thread only

Workloads: ``latency`` (sequential execute_command), ``events`` (floods to a callback),
``threads4`` (4 threads, one connection), ``submit`` (pipelined from one thread),
``big`` (a 20 MB answer). ``--sessions`` runs it on a flattened session instead.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import threading
import time
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import EVAL, fast_endpoint  # noqa: E402

from syncdp import ConnectionHandler  # noqa: E402


def workload(conn: Any, name: str, n: int) -> None:
    if name == "latency":
        for _ in range(n):
            conn.execute_command(EVAL)
    elif name == "submit":
        futures = [conn.submit(EVAL) for _ in range(n)]
        for f in futures:
            f.result(60)
    elif name == "threads4":

        def work() -> None:
            for _ in range(n // 4):
                conn.execute_command(EVAL)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elif name == "events":
        done = threading.Event()
        count = [0]
        total = n  # n counts down below, as the floods are sent

        def on_console(event: Dict[str, Any]) -> None:
            count[0] += 1
            if count[0] == total:
                done.set()

        conn.register_callback("Runtime.consoleAPICalled", on_console)
        while n:
            conn.execute_command({"method": "Bench.flood", "params": {"count": min(n, 50_000)}}, 120)
            n -= min(n, 50_000)
        done.wait(300)
    elif name == "big":
        for _ in range(max(1, n // 10000)):
            conn.execute_command({"method": "Bench.big", "params": {"size": 20 * 1024 * 1024}}, 120)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=("latency", "events", "threads4", "submit", "big"))
    parser.add_argument("-n", type=int, default=50_000)
    parser.add_argument("--sessions", action="store_true")
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args(argv)
    with fast_endpoint() as url:
        root = ConnectionHandler(url)
        conn = root.attach("fast-target") if args.sessions else root
        conn.connect()
        workload(conn, "latency", 500)
        t0 = time.perf_counter()
        if args.cprofile:
            profile = cProfile.Profile()
            profile.runcall(workload, conn, args.workload, args.n)
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        else:
            workload(conn, args.workload, args.n)
        sys.stderr.write("%s: %.3f s\n" % (args.workload, time.perf_counter() - t0))
        root.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
