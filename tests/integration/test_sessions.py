"""Flattened CDP sessions on real Chromium: isolation, auto-attach, crashes, closing."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, Iterator, List

import pytest

import syncdp
from syncdp import ATTACHED_EVENT, Chrome, ConnectionHandler, Session
from syncdp.exceptions import TargetClosedError, TargetCrashedError
from syncdp.localserver import LocalServer

from pages import port_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def wait_until(condition: Any, timeout: float, message: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.02)


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    with Chrome(tab_mode="sessions", arguments=["--site-per-process"]) as chrome:
        yield chrome


@pytest.fixture(scope="module")
def servers() -> Iterator[List[LocalServer]]:
    inner = LocalServer({"/frame": "<title>inner frame</title><p>other site"}).start()
    outer = LocalServer(
        {
            "/": "<title>outer</title>",
            "/with-frame": '<title>outer</title><iframe src="http://localhost:%d/frame"></iframe>'
            % inner.port,
            "/worker.js": ("text/javascript", "console.log('hello from the worker');"),
            "/with-worker": "<title>w</title><script>new Worker('/worker.js')</script>",
        }
    ).start()
    yield [outer, inner]
    outer.stop()
    inner.stop()


def test_one_reader_and_one_dispatcher_for_many_tabs(browser: Chrome) -> None:
    before = {t.name for t in threading.enumerate() if t.name.startswith("syncdp-")}
    tabs = [browser.new_tab() for _ in range(6)]
    try:
        for i, tab in enumerate(tabs):
            assert tab.execute_script("%d * 2" % i) == i * 2
            assert isinstance(tab.connection, Session)
        after = {t.name for t in threading.enumerate() if t.name.startswith("syncdp-")}
        assert after == before, "sessions must not start threads: %s" % (after - before)
    finally:
        for tab in tabs:
            tab.close()


def test_sessions_are_isolated_commands_and_events(browser: Chrome) -> None:
    conn = browser.connection
    targets = [browser.new_tab().target_id for _ in range(2)]
    sessions = [conn.attach(t) for t in targets]
    got: List[List[str]] = [[], []]
    try:
        for i, session in enumerate(sessions):
            session.send("Runtime.enable")
            session.register_callback(
                "Runtime.consoleAPICalled",
                lambda e, i=i: got[i].append(e["params"]["args"][0]["value"]),
            )
        for n in range(20):  # interleaved on the one socket
            for i, session in enumerate(sessions):
                result = session.send(
                    "Runtime.evaluate", {"expression": "console.log('s%d-%d'); %d" % (i, n, n)}
                )
                assert result["result"]["value"] == n
        wait_until(lambda: len(got[0]) == 20 and len(got[1]) == 20, 5, "events missing: %s" % got)
        assert got[0] == ["s0-%d" % n for n in range(20)]
        assert got[1] == ["s1-%d" % n for n in range(20)]
        # A session's waiter sees only its own events.
        with sessions[1].expect_event("Runtime.consoleAPICalled", timeout=5) as ev:
            sessions[0].send("Runtime.evaluate", {"expression": "console.log('zero')"})
            sessions[1].send("Runtime.evaluate", {"expression": "console.log('one')"})
        assert ev.value["params"]["args"][0]["value"] == "one"
    finally:
        for t in targets:
            conn.send("Target.closeTarget", {"targetId": t})


def test_closing_a_tab_fails_only_its_session(browser: Chrome) -> None:
    conn = browser.connection
    doomed = conn.attach(browser.new_tab().target_id)
    other_tab = browser.new_tab()
    outcome: Dict[str, Any] = {}

    def pending() -> None:
        try:
            doomed.send(
                "Runtime.evaluate",
                {"expression": "new Promise(() => {})", "awaitPromise": True},
                timeout=30,
            )
        except BaseException as exc:  # noqa: B902 - handed to the test thread
            outcome["error"] = exc
            outcome["at"] = time.monotonic()

    worker = threading.Thread(target=pending)
    worker.start()
    wait_until(lambda: doomed.pending_commands == 1, 5, "the command never went out")
    closed_at = time.monotonic()
    conn.send("Target.closeTarget", {"targetId": doomed.target_id})
    worker.join(5)
    assert isinstance(outcome.get("error"), TargetClosedError), outcome
    assert outcome["at"] - closed_at < 1.0
    assert doomed.detached
    with pytest.raises(TargetClosedError):
        doomed.send("Runtime.evaluate", {"expression": "1"})
    assert other_tab.execute_script("40 + 2") == 42
    other_tab.close()


def test_renderer_crash_gives_the_crash_error(browser: Chrome) -> None:
    tab = browser.new_tab()
    bystander = browser.new_tab()
    outcome: Dict[str, Any] = {}

    def pending() -> None:
        try:
            tab.execute_script("new Promise(() => {})", timeout=30)
        except BaseException as exc:  # noqa: B902
            outcome["error"] = exc

    worker = threading.Thread(target=pending)
    worker.start()
    wait_until(lambda: tab.connection.pending_commands == 1, 5, "the script never went out")
    with pytest.raises(TargetCrashedError):
        tab.send("Page.crash", timeout=10)
    worker.join(5)
    assert isinstance(outcome.get("error"), TargetCrashedError), outcome
    assert "crashed" in str(outcome["error"])
    assert tab.crashed
    assert bystander.execute_script("'still here'") == "still here"
    tab.close()
    bystander.close()


def test_out_of_process_iframe_is_reached_through_auto_attach(
    browser: Chrome, servers: List[LocalServer]
) -> None:
    outer, _inner = servers
    tab = browser.new_tab()
    seen: List[Session] = []
    tab.on(ATTACHED_EVENT, lambda e: seen.append(e["params"]["session"]))
    tab.follow_children()
    tab.go_to(outer.url("/with-frame"))
    frame = wait_until(
        lambda: next((s for s in tab.connection.child_sessions if s.target_type == "iframe"), None),
        10,
        "no iframe session appeared (children: %s)" % tab.connection.child_sessions,
    )
    assert frame in seen
    # Attached before its document commits (the URL is empty then): wait for the document.
    def frame_title() -> Any:
        result = frame.send(
            "Runtime.evaluate",
            {"expression": "[location.host, document.title]", "returnByValue": True},
        )
        value = result["result"].get("value")
        return value if value and value[1] == "inner frame" else None

    host, _title = wait_until(frame_title, 10, "the iframe's document never loaded")
    assert host.startswith("localhost:")
    # The parent page cannot script the cross-site frame itself.
    assert tab.execute_script("document.title") == "outer"
    tab.close()
    wait_until(lambda: frame.detached, 5, "the frame session outlived its tab")


def test_dedicated_worker_console_through_its_session(
    browser: Chrome, servers: List[LocalServer]
) -> None:
    outer, _inner = servers
    tab = browser.new_tab()
    messages: List[str] = []

    def on_child(event: Dict[str, Any]) -> None:
        child: Session = event["params"]["session"]
        if child.target_type != "worker":
            return
        # Runs before the worker is resumed: its first console message is not missed.
        child.register_callback(
            "Runtime.consoleAPICalled", lambda e: messages.append(e["params"]["args"][0]["value"])
        )
        child.send("Runtime.enable")

    tab.on(ATTACHED_EVENT, on_child)
    tab.follow_children()
    tab.go_to(outer.url("/with-worker"))
    wait_until(lambda: messages, 10, "no console message from the worker")
    assert messages == ["hello from the worker"]
    tab.close()


def test_reconnect_reattaches_an_attached_session(browser: Chrome) -> None:
    conn = ConnectionHandler(port_of(browser))
    try:
        target = conn.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = conn.attach(target)
        session.send("Runtime.enable")
        first_id = session.session_id
        conn._link.abort()  # type: ignore[union-attr]  # simulate a dropped socket
        wait_until(lambda: not conn.connected, 5, "the drop was not noticed")
        with session.expect_event("Runtime.consoleAPICalled", timeout=5) as ev:
            session.send("Runtime.evaluate", {"expression": "console.log('back')"})
        assert ev.value["params"]["args"][0]["value"] == "back"  # Runtime.enable replayed
        assert session.session_id != first_id
        assert session.connection_count == 2
        conn.send("Target.closeTarget", {"targetId": target})
    finally:
        conn.close()


def test_session_of_a_target_gone_while_disconnected_fails_clearly(browser: Chrome) -> None:
    conn = ConnectionHandler(port_of(browser))
    try:
        target = conn.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = conn.attach(target)
        conn._link.abort()  # type: ignore[union-attr]
        wait_until(lambda: not conn.connected, 5, "the drop was not noticed")
        browser.connection.send("Target.closeTarget", {"targetId": target})
        # closeTarget answers before the target is gone: wait until it is.
        wait_until(
            lambda: target
            not in [t["targetId"] for t in browser.send("Target.getTargets")["targetInfos"]],
            5,
            "the target was not closed",
        )
        with pytest.raises(TargetClosedError, match="re-attached"):
            session.send("Runtime.evaluate", {"expression": "1"})
        assert session.detached
    finally:
        conn.close()


def test_exports() -> None:
    assert syncdp.Session is Session
    assert syncdp.ATTACHED_EVENT == ATTACHED_EVENT
