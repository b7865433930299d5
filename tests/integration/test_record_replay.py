"""Record a script against real Chromium, then replay it with no browser at all.

The script (:func:`run_script`) navigates, clicks, runs JavaScript, answers a dialog, takes a
screenshot, reads the network log, opens a second tab and counts callbacks. It is recorded
once per module (``Chrome(record=...)``); the replay runs in a subprocess whose ``PATH`` has no
browser, with ``SYNCDP_BROWSER`` unset and ``binary_location`` pointing at a fake browser that
would leave a marker file if anything launched it. Run as a script, this file replays:
``python test_record_replay.py RECORDING BASE_URL`` prints the script's results as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from syncdp import Chrome, ReplayMismatchError
from syncdp.localserver import LocalServer
from syncdp.transports.recording import read_recording

PAGES = {
    "/": "<!doctype html><title>start</title>"
    "<style>button { display: block; width: 160px; height: 40px; margin: 10px; }</style>"
    "<button id='plain' onclick='window.clicks = (window.clicks || 0) + 1'>plain</button>"
    "<button id='confirm' onclick=\"window.confirmed = confirm('really?')\">confirm</button>"
    "<script>window.data = fetch('/data.json').then((r) => r.json());</script>",
    "/data.json": "{\"answer\": 42}",
    "/second": "<!doctype html><title>second</title><p>second page</p>",
}

Results = Dict[str, Any]


def run_script(browser: Chrome, base: str) -> Tuple[Results, List[str]]:
    """The recorded script: what it saw, and the callbacks' sequence."""
    seen: List[str] = []
    last_load = threading.Event()

    def on_navigated(event: Dict[str, Any]) -> None:
        seen.append("navigated " + event["params"]["frame"]["url"].replace(base, ""))

    def on_load(event: Dict[str, Any]) -> None:
        seen.append("load")
        if seen[-2:] == ["navigated /second", "load"]:
            last_load.set()

    tab = browser.new_tab()
    tab.on("Page.frameNavigated", on_navigated)
    tab.on("Page.loadEventFired", on_load)
    tab.enable_network_events()
    tab.go_to(base + "/")
    results: Results = {"title": tab.title}
    tab.query("#plain").click()
    tab.query("#plain").click()
    results["clicks"] = tab.execute_script("return window.clicks")
    results["data"] = tab.execute_script("return window.data")
    tab.query("#confirm").click()
    results["dialog"] = tab.get_dialog_message()
    tab.handle_dialog(accept=True)
    results["confirmed"] = tab.execute_script("return window.confirmed")
    results["screenshot"] = hashlib.sha256(tab.take_screenshot()).hexdigest()
    results["requests"] = [e["params"]["request"]["url"].replace(base, "") for e in tab.get_network_logs()]
    second = browser.new_tab()
    second.go_to(base + "/second")
    results["second"] = [second.title, second.execute_script("return document.querySelector('p').textContent")]
    second.close()
    tab.go_to(base + "/second")
    results["url"] = tab.current_url.replace(base, "")
    # The last load's callback ran: every earlier callback has (one dispatcher, in order).
    if not last_load.wait(30):
        raise AssertionError("the last load callback never ran: %r" % (seen,))
    tab.close()
    return results, seen


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


def _record(server: LocalServer, path: Path) -> Tuple[Results, List[str]]:
    with Chrome(record=str(path)) as browser:
        return run_script(browser, server.url("").rstrip("/"))


@pytest.fixture(scope="module")
def recorded(
    server: LocalServer, tmp_path_factory: pytest.TempPathFactory
) -> Tuple[Path, Results, List[str]]:
    path = tmp_path_factory.mktemp("recording") / "script.cdp.jsonl.gz"
    results, seen = _record(server, path)
    return path, results, seen


def _hidden_browser_env(tmp_path: Path) -> Tuple[Dict[str, str], Path, Path]:
    """An environment with no browser on PATH and a fake one that leaves a marker if run."""
    marker = tmp_path / "a-browser-was-launched"
    fake = tmp_path / "fake-chromium"
    fake.write_text("#!/bin/sh\ntouch '%s'\nexit 1\n" % marker)
    fake.chmod(0o755)
    names = ("chromium", "chromium-browser", "google-chrome", "chrome")
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not any(os.path.exists(os.path.join(d, n)) for n in names)]
    env = {k: v for k, v in os.environ.items() if k != "SYNCDP_BROWSER"}
    env["PATH"] = os.pathsep.join(path)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2])]
                                        + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return env, fake, marker


def test_replay_without_a_browser_gives_the_same_results_and_callbacks(
    recorded: Tuple[Path, Results, List[str]], server: LocalServer, tmp_path: Path
) -> None:
    path, live, live_seen = recorded
    assert live["clicks"] == 2 and live["dialog"] == "really?" and live["confirmed"] is True
    assert "/data.json" in live["requests"] and live["second"] == ["second", "second page"]
    env, fake, marker = _hidden_browser_env(tmp_path)
    done = subprocess.run(
        [sys.executable, __file__, str(path), server.url("").rstrip("/"), str(fake)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    replayed = json.loads(done.stdout.strip().splitlines()[-1])
    assert replayed["results"] == live
    assert replayed["seen"] == live_seen
    assert not marker.exists(), "the replay launched a browser"


def test_the_same_script_recorded_twice_sends_the_same_commands_and_gets_the_same_answers(
    recorded: Tuple[Path, Results, List[str]], server: LocalServer, tmp_path: Path
) -> None:
    first = read_recording(str(recorded[0]))
    again = tmp_path / "again.cdp.jsonl"
    _record(server, again)
    second = read_recording(str(again))

    def exchanges(records: List[Dict[str, Any]]) -> List[str]:
        """Each command, then its answer, as the lines hold them (without the times)."""
        answers = {(r["session"], r["msg"]["id"]): r["msg"]
                   for r in records if r["dir"] == "recv" and "id" in r["msg"]}
        lines = []
        for record in records:
            if record["dir"] == "send":
                key = (record["session"], record["msg"]["id"])
                lines.append(json.dumps([record["msg"], answers.get(key)], sort_keys=True))
        return lines

    def renumbered(lines: List[str]) -> List[str]:
        """Id tokens numbered by first use in ``lines``: an event may introduce an id before
        the answer that carries it, in an order Chromium does not fix."""
        tokens: Dict[str, str] = {}
        counts: Dict[str, int] = {}

        def token(match: "re.Match[str]") -> str:
            if match.group(0) not in tokens:
                counts[match.group(1)] = counts.get(match.group(1), 0) + 1
                tokens[match.group(0)] = '"%s-%d"' % (match.group(1), counts[match.group(1)])
            return tokens[match.group(0)]

        pattern = re.compile(r'"(target|session|frame|loader|request|interception|context|object)-\d+"')
        return [pattern.sub(token, line) for line in lines]

    # Byte for byte, the times apart: every command and its answer. (Chromium's own events
    # vary run to run: paint lifecycle events and title updates come in different orders.)
    assert renumbered(exchanges(first)) == renumbered(exchanges(second))
    assert all(set(r) == {"dir", "msg", "session", "t"} for r in first if r["dir"] != "close")


def test_a_command_not_in_the_recording_names_it_and_the_nearest_with_a_diff(
    recorded: Tuple[Path, Results, List[str]], server: LocalServer
) -> None:
    with Chrome(replay=str(recorded[0])) as browser:
        tab = browser.new_tab()
        tab.on("Page.frameNavigated", lambda event: None)
        tab.on("Page.loadEventFired", lambda event: None)
        tab.enable_network_events()
        with pytest.raises(ReplayMismatchError) as caught:
            tab.go_to(server.url("/elsewhere"))
        error = caught.value
        assert error.method == "Page.navigate"
        assert error.nearest is not None and error.nearest.endswith(" Page.navigate")
        assert "url: recorded" in error.diff and "/elsewhere" in error.diff
        assert "command #%d" % error.position in str(error)
        with pytest.raises(ReplayMismatchError, match="never sent"):
            browser.stop()


def test_a_replay_that_stops_early_reports_the_commands_never_sent(
    recorded: Tuple[Path, Results, List[str]]
) -> None:
    browser = Chrome(replay=str(recorded[0])).start()
    browser.new_tab()
    with pytest.raises(ReplayMismatchError, match=r"recorded command\(s\) never sent: #\d+ ") as caught:
        browser.stop()
    assert caught.value.position > 1
    assert not browser.started


def test_replaying_at_recorded_speed_keeps_the_results(
    recorded: Tuple[Path, Results, List[str]], server: LocalServer
) -> None:
    path, live, live_seen = recorded
    with Chrome(replay=str(path), replay_speed=50.0, replay_match="method") as browser:
        assert run_script(browser, server.url("").rstrip("/")) == (live, live_seen)


def _main() -> None:
    path, base, fake = sys.argv[1:4]
    started = time.monotonic()
    with Chrome(fake, replay=path) as browser:
        results, seen = run_script(browser, base)
    print(json.dumps({"results": results, "seen": seen, "seconds": time.monotonic() - started}))


if __name__ == "__main__":
    _main()
