"""A thousand flattened sessions on one connection (the fake CDP endpoint): every answer and
every event reaches its own session, in order, and an ended session's events go nowhere."""

from __future__ import annotations

import random
import threading
from typing import Any, Dict, List

import pytest
from fake_cdp import FakeCDP, FakeConn, attach_or_detach, wait_until

from syncdp import ConnectionHandler

pytestmark = pytest.mark.timeout(120)

Message = Dict[str, Any]
SESSIONS = 1000
EVENTS_PER_SESSION = 3


def browser_with_many_targets(conn: FakeConn, message: Message) -> Any:
    """Chromium's attach (the event before the answer); ``Test.emitAll`` sends, in the order
    given, one ``Test.tick`` event to each listed session; everything else is echoed."""
    answer = attach_or_detach(conn, message)
    if answer is not None:
        return answer
    method = message.get("method")
    params = message.get("params") or {}
    if method == "Test.emitAll":
        for n, session_id in enumerate(params["sessionIds"]):
            conn.send_json({"method": "Test.tick", "params": {"n": n, "to": session_id},
                            "sessionId": session_id})
        return {}
    return FakeCDP.echo(conn, message)


@pytest.fixture
def conn(fake_cdp: FakeCDP) -> Any:
    fake_cdp.handler = browser_with_many_targets
    with ConnectionHandler(fake_cdp.port) as handler:
        yield handler


def test_a_thousand_sessions_each_get_their_own_answers_and_events_in_order(
    conn: ConnectionHandler,
) -> None:
    sessions = [conn.attach("T%d" % i) for i in range(SESSIONS)]
    ids = [s.session_id for s in sessions]
    assert len(set(ids)) == SESSIONS
    received: Dict[str, List[Message]] = {session_id: [] for session_id in ids}
    root_ticks: List[Message] = []
    lock = threading.Lock()

    def recorder(session_id: str) -> Any:
        def record(event: Message) -> None:
            with lock:
                received[session_id].append(event)
        return record

    for session in sessions:
        session.register_callback("Test.tick", recorder(str(session.session_id)))
    conn.register_callback("Test.tick", root_ticks.append)

    # Answers: one pipelined command per session, each answered on its own session.
    futures = [s.submit({"method": "Runtime.evaluate", "params": {"expression": s.session_id}})
               for s in sessions]
    for session_id, future in zip(ids, futures):
        answer = future.result(30)
        assert answer["sessionId"] == session_id
        assert answer["result"]["params"]["expression"] == session_id

    # Events: three per session, the sessions interleaved in a shuffled order.
    order = ids * EVENTS_PER_SESSION
    random.Random(16).shuffle(order)
    conn.send("Test.emitAll", {"sessionIds": order})
    wait_until(lambda: sum(len(v) for v in received.values()) == len(order), 60)
    for session_id in ids:
        got = received[session_id]
        assert [e["params"]["to"] for e in got] == [session_id] * EVENTS_PER_SESSION
        positions = [e["params"]["n"] for e in got]
        assert positions == sorted(positions)  # wire order kept per session
    assert root_ticks == []  # a session's events never reach the connection's callbacks


def test_after_half_of_a_thousand_sessions_close_only_the_open_half_receive_events(
    conn: ConnectionHandler,
) -> None:
    sessions = [conn.attach("T%d" % i) for i in range(SESSIONS)]
    counts = {str(s.session_id): [0] for s in sessions}
    for session in sessions:
        box = counts[str(session.session_id)]
        session.register_callback("Test.tick", lambda event, box=box: box.__setitem__(0, box[0] + 1))
    closed, open_ = sessions[::2], sessions[1::2]
    for session in closed:
        session.close()
    assert all(s.detached for s in closed)

    conn.send("Test.emitAll", {"sessionIds": [s.session_id for s in sessions]})
    wait_until(lambda: all(counts[str(s.session_id)][0] == 1 for s in open_), 60)
    # the events for the closed half were sent before the last open one's: routed by now
    assert all(counts[str(s.session_id)][0] == 0 for s in closed)
    assert open_[-1].send("Runtime.evaluate", {"expression": "1"})["params"]["expression"] == "1"
