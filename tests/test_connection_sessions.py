"""Flattened sessions against the fake CDP endpoint: wildcard listeners, close(), wait_closed."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List

import pytest
from fake_cdp import FakeCDP, FakeConn, attach_or_detach, wait_until

from syncdp import ConnectionHandler, exceptions

pytestmark = pytest.mark.timeout(30)

Message = Dict[str, Any]


def browser_with_targets(conn: FakeConn, message: Message) -> Any:
    """Answers like Chromium for attach/detach (the event before the answer), echoes the rest."""
    answer = attach_or_detach(conn, message)
    if answer is not None:
        return answer
    method = message.get("method")
    params = message.get("params") or {}
    if method == "Test.sessionEvents":  # events on the session the command came from
        for name in params["methods"]:
            conn.send_json({"method": name, "params": {}, "sessionId": message["sessionId"]})
        return {}
    return FakeCDP.echo(conn, message)


@pytest.fixture
def conn(fake_cdp: FakeCDP) -> Any:
    fake_cdp.handler = browser_with_targets
    with ConnectionHandler(fake_cdp.port) as handler:
        yield handler


def test_wildcard_listener_on_a_session_receives_each_of_its_events(conn: ConnectionHandler) -> None:
    session = conn.attach("T1")
    seen: List[str] = []
    root_seen: List[str] = []
    session.register_callback("*", lambda event: seen.append(event["method"]))
    conn.register_callback("*", lambda event: root_seen.append(event["method"]))
    session.send("Test.sessionEvents", {"methods": ["A.one", "B.two"]})
    wait_until(lambda: len(seen) == 2, 5)
    assert seen == ["A.one", "B.two"]
    assert "A.one" not in root_seen  # a session's events stay on the session


@pytest.mark.parametrize("name", ["", "nodot", 5, None])
def test_a_session_refuses_event_names_that_can_never_match(conn: ConnectionHandler, name: Any) -> None:
    session = conn.attach("T1")
    with pytest.raises(exceptions.InvalidCommand, match="event_name"):
        session.register_callback(name, lambda event: None)


def test_commands_after_close_say_the_session_was_closed_by_close(conn: ConnectionHandler) -> None:
    session = conn.attach("T1")
    pending = session.submit({"method": "Test.noAnswer"})
    session.close()  # the browser's detachedFromTarget arrives before the answer
    error = pending.exception(5)
    assert isinstance(error, exceptions.TargetClosedError)
    assert "closed by close()" in str(error)
    with pytest.raises(exceptions.TargetClosedError, match=r"closed by close\(\)"):
        session.send("A.b")
    assert session.detached


def test_an_ended_session_refuses_callbacks_that_could_never_fire(conn: ConnectionHandler) -> None:
    session = conn.attach("T1")
    session.register_callback("Page.loadEventFired", lambda event: None)  # fine while open
    session.close()
    with pytest.raises(exceptions.TargetClosedError, match=r"register_callback.*closed by close\(\)"):
        session.register_callback("Page.loadEventFired", lambda event: None)


def test_session_wait_closed_returns_true_when_the_target_detaches(
    conn: ConnectionHandler, fake_cdp: FakeCDP
) -> None:
    session = conn.attach("T1")
    assert session.wait_closed(timeout=0.05) is False
    fake_cdp.later(0.2, fake_cdp.conns[0].send_json,
                   {"method": "Target.detachedFromTarget", "params": {"sessionId": session.session_id}})
    started = time.monotonic()
    assert session.wait_closed(timeout=10) is True
    assert time.monotonic() - started < 5
    assert session.wait_closed() is True  # ended: at once


def test_session_wait_closed_returns_true_when_the_connection_is_lost(
    conn: ConnectionHandler, fake_cdp: FakeCDP
) -> None:
    session = conn.attach("T1")
    ended: List[bool] = []
    waiter = threading.Thread(target=lambda: ended.append(session.wait_closed()))
    waiter.start()
    fake_cdp.conns[0].drop()
    waiter.join(10)
    assert ended == [True]
