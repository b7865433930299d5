"""Helpers shared by the benchmark scripts: statistics, /proc readings, versions, endpoints.

Nothing here is timed itself; the scripts measure, this module only reads and formats.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")
CHROMIUM = (
    os.environ.get("SYNCDP_BENCH_CHROMIUM")
    or os.environ.get("SYNCDP_BROWSER")
    or shutil.which("chromium")
    or "/usr/bin/chromium"
)

EVAL = {"method": "Runtime.evaluate", "params": {"expression": "1+1"}}


def log(text: str) -> None:
    """Progress goes to stderr; the figures go to stdout."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# -- statistics ---------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank on the sorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(q / 100.0 * len(ordered) + 0.5)) - 1))
    return float(ordered[rank])


def fmt(value: Optional[float], spec: str = "%.1f") -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    return spec % value


def verdict(ok: Optional[bool]) -> str:
    if ok is None:
        return "n/a"
    return "met" if ok else "MISSED"


# -- /proc ----------------------------------------------------------------------------------


def run_threads(work: Any, workers: int, name: str) -> float:
    """Run ``work()`` in ``workers`` threads at once; the seconds until the last one ended."""
    threads = [threading.Thread(target=work, name="%s-%d" % (name, i)) for i in range(workers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def rss_kb(pid: str = "self", field: str = "VmRSS") -> int:
    """VmRSS (or VmHWM, the peak) of a process in kB."""
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of another process (e.g. Playwright's Node driver), in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _proc_table() -> Dict[int, tuple]:
    """pid -> (ppid, comm, state) for every process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.find("(") + 1 : text.rfind(")")]
        rest = text[text.rfind(")") + 2 :].split()
        table[int(name)] = (int(rest[1]), comm, rest[0])
    return table


def descendants(root: Optional[int] = None) -> Set[int]:
    """Every live (non-zombie) descendant of ``root`` (default: this process)."""
    root = os.getpid() if root is None else root
    table = _proc_table()
    children: Dict[int, List[int]] = {}
    for pid, (ppid, _comm, _state) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: Set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def alive(pids: Set[int]) -> Set[int]:
    """The pids of ``pids`` still running. A zombie (exited, its parent has not reaped it
    yet; for a browser's helpers that parent is often init) no longer counts."""
    left = set()
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            left.add(pid)
    return left


def browser_pids(root: Optional[int] = None) -> Set[int]:
    """Chromium processes below ``root`` (default: this process)."""
    table = _proc_table()
    return {
        pid
        for pid in descendants(root)
        if pid in table and ("chrom" in table[pid][1].lower() or "headless" in table[pid][1].lower())
    }


def child_pids_named(name: str) -> List[int]:
    table = _proc_table()
    return [pid for pid in descendants() if pid in table and table[pid][1] == name]


def tcp_sockets_to_port(port: int) -> int:
    """How many of this process's TCP sockets are connected to 127.0.0.1:``port``."""
    inodes = set()
    fd_dir = "/proc/self/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    want = ":%04X" % port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    # local, remote, state (01 = ESTABLISHED), ..., inode at index 9
                    if parts[2].endswith(want) and parts[9] in inodes and parts[3] == "01":
                        count += 1
        except OSError:
            continue
    return count


def syncdp_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("syncdp-"))


# -- machine and versions -----------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def chromium_version() -> str:
    try:
        out = subprocess.run(
            [CHROMIUM, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        return out or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return "not installed"


def node_version() -> str:
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10)
        with open(os.path.join(NODE_DIR, "node_modules", "ws", "package.json")) as f:
            ws = json.load(f)["version"]
        return "node %s, ws %s" % (node.stdout.strip(), ws)
    except (OSError, subprocess.SubprocessError, KeyError, ValueError):
        return "not available"


def machine_lines() -> List[str]:
    load = os.getloadavg()
    return [
        "machine: %d cores, %s; load average at start %.2f %.2f %.2f"
        % (os.cpu_count() or 0, cpu_model(), load[0], load[1], load[2]),
        "python %s (%s), %s" % (platform.python_version(), sys.executable, platform.platform()),
        "chromium: %s" % chromium_version(),
        "syncdp %s, websocket-client %s, pychrome %s, pydoll-python %s, playwright %s, %s"
        % (
            package_version("syncdp"),
            package_version("websocket-client"),
            package_version("pychrome"),
            package_version("pydoll-python"),
            package_version("playwright"),
            node_version(),
        ),
    ]


# -- the fast endpoint process --------------------------------------------------------------


@contextlib.contextmanager
def fast_endpoint() -> Iterator[str]:
    """Run bench/fast_endpoint.py in its own process; yields its ws:// URL."""
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "fast_endpoint.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            raise RuntimeError("fast endpoint did not start: %r" % (line,))
        yield "ws://127.0.0.1:%s/devtools/page/fast" % line[1]
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the Node client ------------------------------------------------------------------------


def node_available() -> bool:
    return shutil.which("node") is not None and os.path.isdir(os.path.join(NODE_DIR, "node_modules", "ws"))


def run_node(job: Dict[str, Any], timeout: float = 300) -> Dict[str, Any]:
    out = subprocess.run(
        ["node", os.path.join(NODE_DIR, "cdp_client.js"), json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    try:
        result: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise RuntimeError("node client failed: %s %s" % (out.stdout, out.stderr)) from exc
    if "error" in result:
        raise RuntimeError("node client failed: %s" % result["error"])
    return result


def wait_until(predicate: Any, timeout: float, step: float = 0.002) -> float:
    """Poll ``predicate`` until true; returns the seconds it took (inf on timeout)."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while True:
        if predicate():
            return time.perf_counter() - t0
        if time.perf_counter() > deadline:
            return float("inf")
        time.sleep(step)
