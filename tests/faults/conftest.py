"""The fault suite's figure: one row per scenario (result, time to fail), printed at the end.

Every test of ``tests/faults`` carries ``@pytest.mark.scenario("ID", "title")`` and may
record, through the ``figure`` fixture, how long the library took to fail (``time_to_fail``:
from the injected fault to the caller's exception) and a short note (a latency, a count of
fuzzing examples, ...). ``pytest_terminal_summary`` prints the table and, as its last line,
``N passed, N failed``:

* passed: the scenario met its pass criterion;
* failed: it did not: an ordinary failure or error, *or* an ``xfail`` (a known syncdp bug,
  marked ``xfail(strict=True)`` with the diagnosis in its reason). The figure counts
  criteria, not pytest outcomes, so a known bug is a failed scenario here even though
  pytest's own summary calls it xfailed.

Skipped scenarios (no Chromium, no non-loopback address) are listed but counted in neither.
The autouse ``syncdp-`` thread-leak guard and the ``fake_cdp`` / ``dead_port`` fixtures come
from ``tests/conftest.py``.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple

import pytest

# (nodeid) -> row; rows keep collection order through _ORDER.
_ROWS: Dict[str, Dict[str, Any]] = {}
_ORDER: List[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scenario(id, title): the fault scenario a test checks (tests/faults figure)"
    )


class Figure:
    """What a test records for the figure (stored as user properties of its report)."""

    def __init__(self, node: pytest.Item) -> None:
        self._node = node

    def time_to_fail(self, seconds: float) -> None:
        """How long, from the injected fault, until the caller saw the error."""
        self._node.user_properties.append(("time_to_fail", float(seconds)))

    def note(self, text: str) -> None:
        """A short remark for the table (a latency, a budget, ...)."""
        self._node.user_properties.append(("note", str(text)))


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Figure:
    """Record time-to-fail and notes for the end-of-session table."""
    return Figure(request.node)


@pytest.fixture
def excepthook_records() -> Any:
    """Install a recording ``threading.excepthook``; yield the list of what it saw.

    Any exception that escapes a thread's ``run`` (the reader, the dispatcher, a worker) lands
    in the list instead of being printed; the previous hook is restored afterwards.
    """
    seen: List[Tuple[str, BaseException]] = []
    previous = threading.excepthook

    def record(args: Any) -> None:
        name = args.thread.name if args.thread is not None else "?"
        seen.append((name, args.exc_value))

    threading.excepthook = record
    try:
        yield seen
    finally:
        threading.excepthook = previous


def _scenario(item: pytest.Item) -> Tuple[str, str]:
    marker = item.get_closest_marker("scenario")
    if marker is None:
        return "-", item.name
    sid = str(marker.args[0]) if marker.args else "-"
    title = str(marker.args[1]) if len(marker.args) > 1 else item.name
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        title += " [%s]" % callspec.id
    return sid, title


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" not in item.nodeid.replace("\\", "/"):
            continue
        sid, title = _scenario(item)
        if item.nodeid not in _ROWS:
            _ORDER.append(item.nodeid)
        _ROWS[item.nodeid] = {"id": sid, "title": title, "result": "not run", "ttf": None,
                              "notes": [], "duration": 0.0}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    report = outcome.get_result()
    row = _ROWS.get(item.nodeid)
    if row is None:
        return
    if report.when == "call":
        row["duration"] = report.duration
    if report.when == "call" or (report.when != "call" and not report.passed):
        if hasattr(report, "wasxfail"):
            row["result"] = "xpass" if report.passed else "xfail (known bug)"
        elif report.skipped:
            row["result"] = "skipped"
        elif report.failed:
            row["result"] = "FAILED" if report.when == "call" else "ERROR (%s)" % report.when
        elif report.when == "call":
            row["result"] = "passed"
    elif report.when == "teardown" and row["result"] == "passed" and report.failed:
        row["result"] = "ERROR (teardown)"
    for name, value in item.user_properties:
        if name == "time_to_fail":
            row["ttf"] = value
        elif name == "note" and value not in row["notes"]:
            row["notes"].append(value)


def _fmt_ttf(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value < 1.0:
        return "%.1f ms" % (value * 1000)
    return "%.2f s" % value


def _order(row: Dict[str, Any]) -> Tuple[int, int, str]:
    sid = row["id"]
    if sid.isdigit():
        return (0, int(sid), "")
    return (1, 0, {"S": "0", "sec": "1", "F": "2"}.get(sid, sid))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = [_ROWS[n] for n in _ORDER if _ROWS[n]["result"] != "not run"]
    rows.sort(key=_order)  # stable: collection order within a scenario
    if not rows:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault scenarios (tests/faults)")
    headers = ("#", "scenario", "result", "time to fail", "notes")
    table = [
        (r["id"], r["title"], r["result"], _fmt_ttf(r["ttf"]), "; ".join(r["notes"]))
        for r in rows
    ]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers[:-1])]

    def line(cells: Tuple[str, ...]) -> str:
        head = "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths))
        return (head + "  " + cells[-1]).rstrip()

    write(line(headers))
    write(line(tuple("-" * w for w in widths) + ("-----",)))
    for cells in table:
        write(line(cells))
    passed = sum(1 for r in rows if r["result"] in ("passed", "xpass"))
    failed = sum(1 for r in rows if r["result"] not in ("passed", "xpass", "skipped"))
    write("%d passed, %d failed" % (passed, failed))
