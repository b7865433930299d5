"""The recording and replay transports, without a browser: recorded against the fake CDP
endpoint (tests/fake_cdp.py) or written by hand, replayed through a ConnectionHandler on the
``open_transport`` seam (nothing is dialled)."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path
from typing import Any, Dict, List

import pytest
from fake_cdp import FakeCDP

from syncdp import Chrome, ConnectionHandler, InvalidCommand, ReplayMismatchError, connect
from syncdp.transports import recording
from syncdp.transports.recording import (
    FORMAT,
    REDACTED,
    Recorder,
    read_recording,
    redact_message,
)
from syncdp.transports.replay import ReplayTransport


def write_recording(path: Path, records: List[Dict[str, Any]]) -> Path:
    lines = [FORMAT] + [dict({"t": 0.001 * n, "session": None}, **r) for n, r in enumerate(records)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def replayed(path: Path, **options: Any) -> ConnectionHandler:
    transport = ReplayTransport(str(path), **options)
    return ConnectionHandler(None, open_transport=lambda: transport)


def send(n: int, method: str, params: Any = None) -> Dict[str, Any]:
    msg: Dict[str, Any] = {"id": n, "method": method}
    if params is not None:
        msg["params"] = params
    return {"dir": "send", "msg": msg}


def recv(msg: Dict[str, Any]) -> Dict[str, Any]:
    return {"dir": "recv", "msg": msg}


# -- redaction ----------------------------------------------------------------------------


def test_redaction_hides_headers_cookies_token_queries_and_long_bodies() -> None:
    body = "x" * (recording.BODY_LIMIT + 1)
    event = {"method": "Network.requestWillBeSent", "params": {"request": {
        "url": "https://api.example/v1?page=2&access_token=s3cr3t&sig=abc#top",
        "headers": {"Authorization": "Bearer s3cr3t", "Accept": "*/*"},
        "postData": body,
    }}}
    out = redact_message(event)
    request = out["params"]["request"]
    assert request["url"] == "https://api.example/v1?page=2&access_token=%s&sig=%s#top" % (REDACTED, REDACTED)
    assert request["headers"] == {"Authorization": REDACTED, "Accept": "*/*"}
    assert request["postData"].startswith("[body sha256=") and request["postData"].endswith(
        "length=%d]" % len(body))
    assert redact_message(event, record_bodies=True)["params"]["request"]["postData"] == body
    assert event["params"]["request"]["headers"]["Authorization"] == "Bearer s3cr3t"  # a copy

    fetch = {"id": 3, "method": "Fetch.continueRequest", "params": {"headers": [
        {"name": "Cookie", "value": "sid=1"}, {"name": "X-Plain", "value": "kept"}]}}
    assert [h["value"] for h in redact_message(fetch)["params"]["headers"]] == [REDACTED, "kept"]
    cookies = {"id": 4, "result": {"cookies": [{"name": "sid", "value": "abc", "domain": "a.example"}]}}
    assert redact_message(cookies)["result"]["cookies"][0]["value"] == REDACTED
    raw = {"method": "Network.responseReceivedExtraInfo",
           "params": {"headersText": "HTTP/1.1 200 OK\r\nSet-Cookie: a=b\r\nServer: x\r\n"}}
    assert redact_message(raw)["params"]["headersText"] == (
        "HTTP/1.1 200 OK\r\nSet-Cookie: %s\r\nServer: x\r\n" % REDACTED)
    answer = {"id": 5, "result": {"body": body, "base64Encoded": False}}
    assert redact_message(answer, "Network.getResponseBody")["result"]["body"].startswith("[body")
    assert redact_message(answer, "Page.getResourceContent")["result"]["body"] == body


def test_a_redaction_hook_sees_every_message_before_it_is_written(tmp_path: Path) -> None:
    def hide_emails(message: Dict[str, Any]) -> Dict[str, Any]:
        return json.loads(json.dumps(message).replace("ada@example.org", REDACTED))

    recorder = Recorder(tmp_path / "r.cdp.jsonl", redact=hide_emails)
    with FakeCDP() as fake:
        handler = ConnectionHandler(fake.port, record=recorder)
        try:
            handler.send("Test.echo", {"user": "ada@example.org"})
        finally:
            handler.close()
    text = (tmp_path / "r.cdp.jsonl").read_text()
    assert "ada@example.org" not in text and text.count(REDACTED) == 2


def test_recorder_arguments_are_checked() -> None:
    with pytest.raises(InvalidCommand, match="record must be a file path"):
        Recorder(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand, match="record_bodies"):
        Recorder("x.jsonl", record_bodies="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand, match="redact"):
        Recorder("x.jsonl", redact="no")  # type: ignore[arg-type]


# -- recording ----------------------------------------------------------------------------


def test_a_recorded_connection_writes_both_directions_in_order_gzip_without_a_time_stamp(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.cdp.jsonl.gz"
    with FakeCDP() as fake:
        handler = ConnectionHandler(fake.port, record=str(path))
        try:
            handler.send("Test.emit", {"events": [{"method": "A.b", "params": {"i": 1}}]})
            handler.send("Test.echo", {"targetId": "0123ABCD", "again": "0123ABCD"})
        finally:
            handler.close()
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0"  # gzip, mtime 0
    lines = gzip.decompress(raw).decode().splitlines()
    assert json.loads(lines[0]) == FORMAT
    records = [r for r in read_recording(str(path)) if r["dir"] != "close"]
    assert [(r["dir"], r["msg"].get("method"), r["msg"].get("id")) for r in records] == [
        ("send", "Test.emit", 1), ("recv", "A.b", None), ("recv", None, 1),
        ("send", "Test.echo", 2), ("recv", None, 2)]
    assert all(r["session"] is None and isinstance(r["t"], float) for r in records)
    times = [r["t"] for r in records]
    assert times == sorted(times)
    # A run-specific id becomes a token, the same one wherever the id appears.
    assert records[3]["msg"]["params"] == {"targetId": "target-1", "again": "target-1"}


@pytest.mark.parametrize("name", ["run.cdp.jsonl", "run.cdp.jsonl.gz"])
def test_a_forked_child_records_into_its_own_file_and_never_into_the_parents(
    tmp_path: Path, name: str
) -> None:
    """The child's copy of the parent's unwritten buffer (and a gzip trailer) must not land in
    the parent's file: the parent's recording stays exactly the parent's messages."""
    import os

    path = tmp_path / name
    with FakeCDP() as fake:
        handler = ConnectionHandler(fake.port, record=str(path))
        try:
            handler.send("Test.echo", {"who": "parent-before"})  # buffered, not yet on disk
            pid = os.fork()
            if pid == 0:  # the child: its own connection, its own file; report by exit code
                code = 1
                try:
                    handler.send("Test.echo", {"who": "child"})
                    handler.close()
                    code = 0
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
            handler.send("Test.echo", {"who": "parent-after"})
        finally:
            handler.close()

    def whos(file: Path) -> List[str]:
        return [r["msg"]["params"]["who"] for r in read_recording(str(file))
                if r["dir"] == "send" and r["msg"].get("method") == "Test.echo"]

    assert whos(path) == ["parent-before", "parent-after"]
    stem, _, extensions = name.partition(".")
    child_file = tmp_path / ("%s.pid%d.%s" % (stem, pid, extensions))
    assert whos(child_file) == ["child"]


# -- replay -------------------------------------------------------------------------------


def test_a_recording_replays_its_answers_and_events_in_order(tmp_path: Path) -> None:
    path = tmp_path / "run.cdp.jsonl"
    with FakeCDP() as fake:
        handler = ConnectionHandler(fake.port, record=str(path))
        try:
            live = [handler.send("Test.events", {"n": 3, "method": "A.b"}),
                    handler.send("Test.echo", {"x": 1})]
        finally:
            handler.close()
    handler = replayed(path)
    seen: List[int] = []
    three = threading.Event()

    def on_event(event: Dict[str, Any]) -> None:
        seen.append(event["params"]["i"])
        if len(seen) == 3:
            three.set()

    handler.register_callback("A.b", on_event)
    try:
        assert handler.send("Test.events", {"n": 3, "method": "A.b"}) == live[0]
        assert handler.send("Test.echo", {"x": 1}) == live[1]
        assert three.wait(10)
        assert seen == [0, 1, 2]
        assert handler.ws_url == "replay of %s" % path
    finally:
        handler.close()


def test_a_command_the_recording_lacks_is_refused_with_the_nearest_and_a_diff(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "r.jsonl", [
        send(1, "Page.navigate", {"url": "http://a.test/one"}), recv({"id": 1, "result": {}}),
        send(2, "Runtime.evaluate", {"expression": "1"}), recv({"id": 2, "result": {"v": 1}}),
    ])
    handler = replayed(path)
    try:
        handler.send("Page.navigate", {"url": "http://a.test/one"})
        with pytest.raises(ReplayMismatchError) as caught:
            handler.send("Runtime.evaluate", {"expression": "2"})
        error = caught.value
        assert (error.method, error.position, error.nearest) == ("Runtime.evaluate", 2, "#2 Runtime.evaluate")
        assert error.diff == '  expression: recorded "1", sent "2"'
        assert "Runtime.evaluate (command #2 of the replay) is not in the recording" in str(error)
        assert handler.send("Runtime.evaluate", {"expression": "1"}) == {"v": 1}  # still usable
        with pytest.raises(ReplayMismatchError, match=r"past the end of the recording .*2 recorded"):
            handler.send("Runtime.evaluate", {"expression": "1"})
    finally:
        handler.close()


def test_recorded_commands_never_sent_are_reported_by_finish(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "r.jsonl", [
        send(1, "A.one"), recv({"id": 1, "result": {}}),
        send(2, "A.two"), recv({"id": 2, "result": {}}),
        send(3, "A.three"), recv({"id": 3, "result": {}}),
    ])
    transport = ReplayTransport(str(path))
    handler = ConnectionHandler(None, open_transport=lambda: transport)
    try:
        handler.send("A.one")
    finally:
        handler.close()
    assert transport.remaining == ["#2 A.two", "#3 A.three"]
    with pytest.raises(ReplayMismatchError, match=r"2 recorded command\(s\) never sent: #2 A.two, #3 A.three"):
        transport.finish()


def test_volatile_ids_are_mapped_consistently_not_compared(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "r.jsonl", [
        send(1, "Network.getResponseBody", {"requestId": "request-1"}),
        recv({"method": "Network.loadingFinished", "params": {"requestId": "request-1"}}),
        recv({"id": 1, "result": {"body": "b"}}),
        send(2, "Network.getResponseBody", {"requestId": "request-1"}),
        recv({"id": 2, "result": {"body": "b"}}),
    ])
    handler = replayed(path)
    finished: List[str] = []
    got = threading.Event()
    handler.register_callback("Network.loadingFinished",
                              lambda e: (finished.append(e["params"]["requestId"]), got.set()))
    try:
        assert handler.send("Network.getResponseBody", {"requestId": "live-7"}) == {"body": "b"}
        assert got.wait(10) and finished == ["live-7"]  # the event carries the live id
        with pytest.raises(ReplayMismatchError, match="requestId"):
            handler.send("Network.getResponseBody", {"requestId": "live-8"})  # paired with live-7
    finally:
        handler.close()


def test_replay_match_loosens_to_the_method_tightens_to_order_or_takes_a_function(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "r.jsonl", [
        send(1, "A.one", {"n": 1}), recv({"id": 1, "result": {"r": 1}}),
        send(2, "A.two", {"n": 2}), recv({"id": 2, "result": {"r": 2}}),
    ])
    loose = replayed(path, match="method")
    try:
        assert loose.send("A.two", {"n": 99}) == {"r": 2}  # any order, any params
        assert loose.send("A.one", {"n": 98}) == {"r": 1}
    finally:
        loose.close()
    strict = replayed(path, match="strict")
    try:
        with pytest.raises(ReplayMismatchError, match="A.two"):
            strict.send("A.two", {"n": 2})  # recorded second
    finally:
        strict.close()
    calls: List[str] = []

    def by_n(recorded: Dict[str, Any], sent: Dict[str, Any]) -> bool:
        calls.append(recorded["method"])
        return bool(recorded["params"]["n"] == sent["params"]["n"] % 10)

    custom = replayed(path, match=by_n)
    try:
        assert custom.send("A.one", {"n": 11}) == {"r": 1}
    finally:
        custom.close()
    assert calls == ["A.one"]


def test_a_recorded_close_ends_the_replayed_connection(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "r.jsonl", [
        send(1, "Browser.close"), {"dir": "close", "code": 1006, "reason": None},
    ])
    handler = replayed(path)
    try:
        handler.connect()
        handler.hooks.expect_close()
        with pytest.raises(Exception):  # noqa: B017 - the answer never comes: the wire ends
            handler.send("Browser.close", timeout=10)
        assert handler.wait_closed(10)
    finally:
        handler.close()


def test_connect_records_the_browser_connection(tmp_path: Path) -> None:
    path = tmp_path / "browser.cdp.jsonl"
    with FakeCDP() as fake:
        browser = connect(fake.port, record=str(path))
        try:
            browser.send("Test.echo", {"from": "browser"})
        finally:
            browser.stop()
    sent = [r["msg"] for r in read_recording(str(path)) if r["dir"] == "send"]
    assert sent == [{"id": 1, "method": "Test.echo", "params": {"from": "browser"}}]
    with pytest.raises(InvalidCommand, match="tab_mode='sessions'"):
        connect(fake.port, record=str(path), tab_mode="sockets")


def test_a_close_this_side_made_is_recorded_as_such_and_not_replayed_as_the_peers(tmp_path: Path) -> None:
    path = tmp_path / "run.cdp.jsonl"
    with FakeCDP() as fake:
        handler = ConnectionHandler(fake.port, record=str(path))
        try:
            handler.send("Test.echo", {"x": 1})
        finally:
            handler.close()
    assert read_recording(str(path))[-1]["dir"] == "close"
    assert read_recording(str(path))[-1]["client"] is True
    handler = replayed(path)
    try:
        assert handler.send("Test.echo", {"x": 1}) == {"method": "Test.echo", "params": {"x": 1}}
        assert not handler.wait_closed(0.2)  # the replay ends when this side closes it
        assert handler.connected
    finally:
        handler.close()


def test_replay_arguments_and_files_are_checked(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "r.jsonl", [])
    for bad in (0, -1, True, "fast"):
        with pytest.raises(InvalidCommand, match="replay_speed"):
            ReplayTransport(str(path), speed=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand, match="replay_match"):
        ReplayTransport(str(path), match="loose")
    (tmp_path / "not.jsonl").write_text('{"hello": 1}\n')
    with pytest.raises(InvalidCommand, match="not a syncdp CDP recording"):
        ReplayTransport(str(tmp_path / "not.jsonl"))
    with pytest.raises(InvalidCommand, match="cannot read the recording"):
        ReplayTransport(str(tmp_path / "missing.jsonl"))
    with pytest.raises(InvalidCommand, match="exclude each other"):
        Chrome(record=str(path), replay=str(path))
    with pytest.raises(InvalidCommand, match="tab_mode='sessions'"):
        Chrome(replay=str(path), tab_mode="sockets")
    with pytest.raises(InvalidCommand, match="record_bodies"):
        Chrome(record_bodies=True)
