"""Routing without a socket or a thread: one message in -> a future, a session, an event."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Dict, List, Tuple

import pytest

from syncdp.connection.commands import CommandManager
from syncdp.connection.router import Route, Router, defer
from syncdp.transports.base import Parsed

Message = Dict[str, Any]
Work = List[Tuple[Callable[[Any], Any], Any]]


class Rig:
    """A router over a root route and one session route, recording what it hands over."""

    def __init__(self) -> None:
        self.commands = CommandManager()
        self.root = Route(None, 100)
        self.session = Route("S1", 100)
        self.sessions: Dict[str, Route] = {"S1": self.session}
        self.batches: List[Work] = []
        self.router = Router(self.commands, self.root, self.sessions, self.batches.append)

    def feed(self, *messages: Any) -> None:
        self.router.route_all([m if isinstance(m, (str, bytes)) else json.dumps(m) for m in messages])

    def dispatch(self) -> None:
        """Run what was handed over, as the dispatcher thread would."""
        for batch in self.batches:
            for function, argument in batch:
                function(argument)
        self.batches.clear()


def test_an_answer_completes_the_future_of_its_id() -> None:
    rig = Rig()
    command_id, future = rig.commands.create_command_future("A.b")
    rig.feed({"id": command_id, "result": {"x": 1}})
    assert future.done() and future.result(0) == {"id": command_id, "result": {"x": 1}}
    assert rig.batches == []  # answers never reach the dispatcher


def test_a_late_answer_for_an_unknown_id_is_dropped() -> None:
    rig = Rig()
    rig.feed({"id": 99, "result": {}})
    assert rig.commands.pending_count == 0 and rig.batches == []


def test_events_are_queued_only_when_a_callback_wants_them() -> None:
    rig = Rig()
    seen: List[Message] = []
    rig.root.events.register_callback("A.wanted", seen.append)
    rig.feed({"method": "A.unwanted", "params": {}}, {"method": "A.wanted", "params": {"i": 1}})
    assert len(rig.batches) == 1 and len(rig.batches[0]) == 1
    rig.dispatch()
    assert seen == [{"method": "A.wanted", "params": {"i": 1}}]


def test_events_of_one_read_are_handed_over_as_one_batch_in_wire_order() -> None:
    rig = Rig()
    seen: List[int] = []
    rig.root.events.register_callback("A.e", lambda event: seen.append(event["params"]["i"]))
    rig.feed(*[{"method": "A.e", "params": {"i": i}} for i in range(50)])
    assert len(rig.batches) == 1
    rig.dispatch()
    assert seen == list(range(50))


def test_session_events_go_to_their_session_and_unknown_sessions_are_dropped() -> None:
    rig = Rig()
    root_seen: List[Message] = []
    session_seen: List[Message] = []
    rig.root.events.register_callback("A.e", root_seen.append)
    rig.session.events.register_callback("A.e", session_seen.append)
    rig.feed(
        {"method": "A.e", "params": {"to": "root"}},
        {"method": "A.e", "params": {"to": "S1"}, "sessionId": "S1"},
        {"method": "A.e", "params": {"to": "gone"}, "sessionId": "S-unknown"},
    )
    rig.dispatch()
    assert [e["params"]["to"] for e in root_seen] == ["root"]
    assert [e["params"]["to"] for e in session_seen] == ["S1"]


def test_waiters_are_fed_on_the_reader_side_without_any_callback() -> None:
    rig = Rig()
    waiter = rig.session.events.add_waiter("A.e")
    rig.feed({"method": "A.e", "params": {"n": 1}, "sessionId": "S1"})
    assert rig.batches == []
    assert waiter.wait(0.01)["params"] == {"n": 1}


def test_reader_hooks_run_before_waiters_and_callbacks() -> None:
    rig = Rig()
    order: List[str] = []
    rig.root.hooks.add("A.e", lambda event: order.append("hook"))
    rig.root.events.register_callback("A.e", lambda event: order.append("callback"))
    rig.feed({"method": "A.e"})
    assert order == ["hook"]
    rig.dispatch()
    assert order == ["hook", "callback"]


def test_network_log_and_dialog_state_are_current_before_the_next_answer() -> None:
    rig = Rig()
    command_id, future = rig.commands.create_command_future("Page.reload", "S1")
    rig.feed(
        {"method": "Network.requestWillBeSent", "params": {"requestId": "1"}, "sessionId": "S1"},
        {"method": "Page.javascriptDialogOpening", "params": {"type": "alert"}, "sessionId": "S1"},
        {"id": command_id, "result": {}, "sessionId": "S1"},
    )
    assert future.done()
    assert [e["params"]["requestId"] for e in rig.session.network_log.entries] == ["1"]
    assert rig.session.dialog.current["params"] == {"type": "alert"}
    assert rig.root.network_log.entries == [] and rig.root.dialog.current == {}
    rig.feed({"method": "Page.javascriptDialogClosed", "params": {}, "sessionId": "S1"})
    assert rig.session.dialog.current == {}


def test_work_deferred_by_a_hook_runs_after_the_events_before_it() -> None:
    rig = Rig()
    rig.router.bind_to_current_thread()
    order: List[str] = []
    rig.root.events.register_callback("A.e", lambda event: order.append("event"))
    rig.root.hooks.add("A.hook", lambda event: defer(order.append, "deferred"))
    rig.feed({"method": "A.e"}, {"method": "A.hook"}, {"method": "A.e"})
    rig.dispatch()
    assert order == ["event", "deferred", "event"]


def test_wildcard_callbacks_receive_every_event_after_the_named_ones() -> None:
    rig = Rig()
    order: List[str] = []
    rig.root.events.register_callback("*", lambda event: order.append("*:" + event["method"]))
    rig.root.events.register_callback("A.x", lambda event: order.append("A.x"))
    rig.feed({"method": "A.x"}, {"method": "B.y"})
    rig.dispatch()
    assert order == ["A.x", "*:A.x", "*:B.y"]


@pytest.mark.parametrize(
    "raw, warning",
    [
        ("not json {", "not JSON"),
        ("[1, 2]", "not an object"),
        ('{"id": "7", "result": {}}', "non-integer id"),
        ('{"params": {}}', "neither id nor method"),
        ('{"method": "A.e", "sessionId": [1]}', "non-string sessionId"),
    ],
)
def test_malformed_messages_are_skipped_with_a_warning(
    raw: str, warning: str, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig()
    rig.root.events.register_callback("*", lambda event: None)
    caplog.set_level(logging.WARNING, logger="syncdp.connection.router")
    rig.feed(raw, {"method": "A.after"})
    assert [warning in r.getMessage() for r in caplog.records] == [True]
    assert [event["method"] for _f, event in rig.batches[0]] == ["A.after"]


def test_a_message_the_transport_parsed_already_is_routed_as_its_value() -> None:
    rig = Rig()
    command_id, future = rig.commands.create_command_future("A.b")
    value = {"id": command_id, "result": {"x": 1}}
    rig.router.route_all([Parsed("not what is routed", value)])
    assert future.result(0) is value
