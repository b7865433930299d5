"""Run every script of ``examples/`` the way a user would, against real headless Chromium.

Each example runs as ``sys.executable examples/<name>.py`` with a private ``TMPDIR`` and a
marker variable in its environment. Every process it starts (the launcher's watchdog,
Chromium and all of Chromium's children, even ones that leave its process group) inherits
that environment, and its temporary profile (``syncdp-profile-*``) is created in that
``TMPDIR``. A leftover is therefore found by the marker in ``/proc/<pid>/environ`` or the
directory in ``/proc/<pid>/cmdline``, and a browser run at the same time by another test
(or another person) is never mistaken for a leak.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from syncdp.exceptions import BrowserNotFoundError
from syncdp.launcher import find_browser

pytestmark = [pytest.mark.integration, pytest.mark.programs]

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
RUN_TIMEOUT = 90  # seconds per example
LEAK_DEADLINE = 5.0  # seconds the browser processes get to disappear after the example exits

# example -> a regular expression one line of its stdout must match.
EXPECTED_LINES = {
    "fetch_two_sites": r"^title: 'Beta Site - home'$",
    "connection_handler_basics": r"^  TimeoutError after [\d.]+ s: .*\(CommandTimeoutError\)$",
    "callbacks": r"^  handle_dialog: alert 'first dialog' -> accepting$",
    "monitor_network": r"^all 5 expected URLs requested after [\d.]+ s$",
    "custom_command": r"^  <title>Alpha Site - home</title>$",
    "parallel_commands": r"^  Network.getResponseBody: \d+ characters, starts '<!doctype html>'$",
    "context_manager": r"^  reconnected: connected=True \(websockets opened: 2\)$",
    "non_blocking_tab_on": r"^  threads: syncdp-background_\d",
    # Not from pydoll's design document (added to examples/ separately).
    "frames_popups_console": r"^frame remote out-of-process http://localhost:\d+/inner$",
    "scrape_pool": r"^scraped 24 pages with 4 threads over one browser in [\d.]+ s \(1 error\)$",
    "interception_and_emulation": r"^delete_cookies: 1 deleted, left \['session'\]$",
}

# Examples that do not run to completion, so this file cannot run them: name -> why.
NOT_RUN_HERE = {
    "pdf_service": "an HTTP service that runs until Ctrl-C",
}


def _example_names() -> List[str]:
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("_"))


def _have_browser() -> bool:
    try:
        find_browser()
    except BrowserNotFoundError:
        return False
    return True


MARKER_VAR = "SYNCDP_EXAMPLE_RUN"


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:  # gone meanwhile, or not ours to read
        return b""


def _processes_of_run(marker: str) -> List[Tuple[int, str]]:
    """(pid, command line) of every process started by the example run tagged ``marker``."""
    in_env = ("%s=%s" % (MARKER_VAR, marker)).encode()
    in_cmdline = marker.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        environ = _read("/proc/%s/environ" % entry).split(b"\0")
        cmdline = _read("/proc/%s/cmdline" % entry)
        if in_env in environ or in_cmdline in cmdline:
            found.append((int(entry), cmdline.replace(b"\0", b" ").decode("utf-8", "replace")))
    return found


def test_every_example_is_covered() -> None:
    """A new example must get an expected line here (and an entry in the README)."""
    names = _example_names()
    assert names, "no examples found in %s" % EXAMPLES_DIR
    assert not set(EXPECTED_LINES) & set(NOT_RUN_HERE)
    assert sorted(set(EXPECTED_LINES) | set(NOT_RUN_HERE)) == names
    readme = (EXAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    assert [n for n in names if "`%s.py`" % n not in readme] == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="leak check reads /proc")
@pytest.mark.skipif(not _have_browser(), reason="no Chromium/Chrome installed")
@pytest.mark.timeout(RUN_TIMEOUT + 30)
@pytest.mark.parametrize("name", sorted(EXPECTED_LINES))
def test_example_runs(name: str) -> None:
    script = EXAMPLES_DIR / (name + ".py")
    # Short on purpose (not pytest's tmp_path): Chromium puts its SingletonSocket in TMPDIR,
    # and a unix socket path is limited to ~107 bytes ("Socket path too long", SIGABRT).
    short_dir = "/tmp" if os.path.isdir("/tmp") else None
    private_tmp = Path(tempfile.mkdtemp(prefix="sdx-", dir=short_dir))
    try:
        _run_example(name, script, private_tmp)
    finally:
        shutil.rmtree(str(private_tmp), ignore_errors=True)


def _run_example(name: str, script: Path, private_tmp: Path) -> None:
    marker = str(private_tmp)
    env = dict(os.environ, TMPDIR=marker, PYTHONUNBUFFERED="1")
    env[MARKER_VAR] = marker
    try:
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=str(EXAMPLES_DIR.parent),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        _kill(_processes_of_run(marker))
        pytest.fail(
            "%s.py did not finish within %ds\n--- stdout ---\n%s\n--- stderr ---\n%s"
            % (name, RUN_TIMEOUT, _text(exc.stdout), _text(exc.stderr)),
            pytrace=False,
        )

    # Leak check first, so a leak is cleaned up (and reported) whatever else failed.
    leaked = _processes_of_run(marker)
    deadline = time.monotonic() + LEAK_DEADLINE
    while leaked and time.monotonic() < deadline:
        time.sleep(0.05)
        leaked = _processes_of_run(marker)
    _kill(leaked)
    # The temporary profile (syncdp-profile-*) and Chromium's socket directory live here.
    leftovers = sorted(os.listdir(str(private_tmp)))

    report = "--- stdout ---\n%s\n--- stderr ---\n%s\n--- leftovers ---\n%s %s" % (
        proc.stdout, proc.stderr, [cmd[:160] for _, cmd in leaked], leftovers
    )
    assert proc.returncode == 0, "%s.py exited with %d\n%s" % (name, proc.returncode, report)
    assert "Traceback" not in proc.stderr, report
    pattern = re.compile(EXPECTED_LINES[name])
    assert any(pattern.search(line) for line in proc.stdout.splitlines()), (
        "no stdout line of %s.py matches %r\n%s" % (name, EXPECTED_LINES[name], report)
    )
    assert leaked == [], "%s.py left browser processes behind: %s" % (
        name, [cmd[:160] for _, cmd in leaked]
    )
    assert leftovers == [], "%s.py left temporary files behind: %s" % (name, leftovers)


def _kill(processes: List[Tuple[int, str]]) -> None:
    """SIGKILL leftovers of this test's own example (identified by its private TMPDIR)."""
    for pid, _ in processes:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _text(data: object) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data or "")
