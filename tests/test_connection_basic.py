"""ConnectionHandler against the fake CDP endpoint: addressing, laziness, commands."""

from __future__ import annotations

import concurrent.futures
import copy
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest
import websocket
from fake_cdp import FakeCDP, wait_until

from syncdp import ConnectionHandler, exceptions

pytestmark = pytest.mark.timeout(30)


def syncdp_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("syncdp-") and t.is_alive()]


def http_paths(fake: FakeCDP) -> List[str]:
    return [path for path, _ in fake.http_requests]


# -- laziness ----------------------------------------------------------------------------


def test_constructing_opens_no_connection_and_no_threads(fake_cdp: FakeCDP) -> None:
    before = set(syncdp_threads())
    conn = ConnectionHandler(fake_cdp.port)
    try:
        assert conn.connected is False
        assert fake_cdp.conns == []
        assert fake_cdp.http_requests == []
        assert set(syncdp_threads()) == before
    finally:
        conn.close()
    # closing a never-connected handler must not connect either
    assert fake_cdp.conns == []
    assert fake_cdp.http_requests == []


def test_connect_opens_exactly_one_connection(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        assert conn.connected is True
        fake_cdp.wait_for_connections(1)
        conn.connect()  # already connected: no second connection
        conn.execute_command({"method": "A.b"})
        assert len(fake_cdp.conns) == 1


def test_first_command_opens_the_connection(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        assert fake_cdp.conns == []
        response = conn.execute_command({"method": "A.b", "params": {"x": 1}})
        assert response["result"] == {"method": "A.b", "params": {"x": 1}}
        assert conn.connected is True
        assert len(fake_cdp.conns) == 1


def test_context_manager_closes_connection_and_threads(fake_cdp: FakeCDP) -> None:
    before = set(syncdp_threads())
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        assert set(syncdp_threads()) - before
    assert conn.connected is False
    assert set(syncdp_threads()) - before == set()
    wait_until(lambda: fake_cdp.conns[0].closed.is_set(), 3, message="server side still open")


# -- addressing --------------------------------------------------------------------------


def test_int_port_resolves_browser_endpoint_via_json_version(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        assert fake_cdp.wait_for_connections(1)[0].path == "/devtools/browser/fake-browser"
    assert "/json/version" in http_paths(fake_cdp)


def test_page_id_connects_to_page_endpoint(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port, page_id="PAGE1") as conn:
        response = conn.execute_command({"method": "Runtime.evaluate"})
        assert response["result"]["method"] == "Runtime.evaluate"
        assert fake_cdp.conns[0].path == "/devtools/page/PAGE1"


def test_ws_url_is_used_directly(fake_cdp: FakeCDP) -> None:
    url = "ws://127.0.0.1:%d/devtools/browser/direct-id" % fake_cdp.port
    with ConnectionHandler(url) as conn:
        conn.execute_command({"method": "A.b"})
        assert fake_cdp.conns[0].path == "/devtools/browser/direct-id"
    assert fake_cdp.http_requests == []


def test_ws_address_resolver_is_honoured(fake_cdp: FakeCDP) -> None:
    calls: List[Any] = []

    def resolver(port: Any) -> str:
        calls.append(port)
        return "ws://127.0.0.1:%d/devtools/browser/resolved-id" % fake_cdp.port

    with ConnectionHandler(fake_cdp.port, ws_address_resolver=resolver) as conn:
        conn.execute_command({"method": "A.b"})
        assert fake_cdp.conns[0].path == "/devtools/browser/resolved-id"
    assert calls and all(int(port) == fake_cdp.port for port in calls)
    assert "/json/version" not in http_paths(fake_cdp)


def test_ws_connector_is_honoured(fake_cdp: FakeCDP) -> None:
    calls: List[Tuple[str, Any]] = []

    def connector(url: str, timeout: Any = None, **kwargs: Any) -> websocket.WebSocket:
        calls.append((url, timeout))
        options: Dict[str, Any] = {"suppress_origin": True, "skip_utf8_validation": True}
        if "header" in kwargs:
            options["header"] = kwargs["header"]
        return websocket.create_connection(url, timeout=timeout, **options)

    with ConnectionHandler(fake_cdp.port, ws_connector=connector, connect_timeout=7.5) as conn:
        response = conn.execute_command({"method": "A.b", "params": {"via": "connector"}})
        assert response["result"]["params"] == {"via": "connector"}
    assert len(calls) == 1
    url, timeout = calls[0]
    assert url == fake_cdp.ws_url
    assert timeout is not None and 0 < timeout <= 7.5


def test_custom_headers_are_sent_on_handshake(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port, headers={"X-Syncdp-Test": "yes"}) as conn:
        conn.connect()
        assert fake_cdp.wait_for_connections(1)[0].headers.get("x-syncdp-test") == "yes"


@pytest.mark.parametrize("page_id", ["browser", "PAGE1"])
def test_no_origin_header_on_handshake(fake_cdp: FakeCDP, page_id: str) -> None:
    fake_cdp.reject_origin = True  # like Chromium without --remote-allow-origins
    with ConnectionHandler(fake_cdp.port, page_id=page_id) as conn:
        conn.execute_command({"method": "A.b"})
        headers = fake_cdp.conns[0].headers
    assert "origin" not in headers
    assert "sec-websocket-origin" not in headers


def test_proxy_environment_does_not_affect_loopback(
    fake_cdp: FakeCDP, dead_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    bogus = "http://127.0.0.1:%d" % dead_port  # a loopback port nothing listens on
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                 "all_proxy", "WS_PROXY", "ws_proxy"):
        monkeypatch.setenv(name, bogus)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with ConnectionHandler(fake_cdp.port, connect_timeout=3) as conn:
        response = conn.execute_command({"method": "A.b", "params": {"p": 1}})
        assert response["result"]["params"] == {"p": 1}
    assert "/json/version" in http_paths(fake_cdp)  # discovery reached the fake directly
    assert fake_cdp.conns[0].path == "/devtools/browser/fake-browser"


# -- execute_command ---------------------------------------------------------------------


def test_execute_command_returns_full_response(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        response = conn.execute_command({"method": "Page.navigate", "params": {"url": "a"}})
    sent = fake_cdp.received[-1]
    assert sent["method"] == "Page.navigate"
    assert sent["params"] == {"url": "a"}
    assert response == {
        "id": sent["id"],
        "result": {"method": "Page.navigate", "params": {"url": "a"}},
    }


def test_execute_command_assigns_ids_and_does_not_mutate_caller_dict(fake_cdp: FakeCDP) -> None:
    command = {"id": 7, "method": "A.b", "params": {"nested": [1, 2]}}
    snapshot = copy.deepcopy(command)
    with ConnectionHandler(fake_cdp.port) as conn:
        first = conn.execute_command(command)
        second = conn.execute_command(command)
    assert command == snapshot
    wire_ids = [message["id"] for message in fake_cdp.received]
    assert len(wire_ids) == 2 and wire_ids[0] != wire_ids[1]
    assert [first["id"], second["id"]] == wire_ids
    assert first["result"]["params"] == second["result"]["params"] == {"nested": [1, 2]}


def test_execute_command_returns_cdp_error_response_without_raising(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        response = conn.execute_command({"method": "Test.error"})
    assert response["error"] == {"code": -32000, "message": "boom", "data": "extra"}
    assert "result" not in response
    assert response["id"] == fake_cdp.received[-1]["id"]


@pytest.mark.parametrize(
    "command",
    ["Page.navigate", None, 42, ["Page.navigate"], {}, {"params": {"url": "x"}}],
    ids=["str", "None", "int", "list", "empty-dict", "no-method"],
)
def test_invalid_command_raises_before_sending(fake_cdp: FakeCDP, command: Any) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        with pytest.raises(exceptions.InvalidCommand) as info:
            conn.execute_command(command)
        assert isinstance(info.value, ValueError)
        # the handler is still usable afterwards
        conn.execute_command({"method": "A.b"})
    assert fake_cdp.received_methods() == ["A.b"]


def test_command_timeout_raises_naming_method_and_limit(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        start = time.monotonic()
        with pytest.raises(exceptions.CommandTimeoutError) as info:
            conn.execute_command({"method": "Test.noAnswer"}, timeout=0.3)
        elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 2.5
    assert isinstance(info.value, TimeoutError)
    assert info.value.method == "Test.noAnswer"
    assert info.value.timeout == pytest.approx(0.3)
    assert "Test.noAnswer" in str(info.value) and "0.3" in str(info.value)


def test_late_answer_is_dropped_and_next_command_works(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        with pytest.raises(exceptions.CommandTimeoutError):
            conn.execute_command({"method": "Test.sleep", "params": {"seconds": 0.4}}, timeout=0.1)
        server = fake_cdp.conns[0]
        wait_until(lambda: any('"slept"' in str(frame) for frame in server.sent), 5,
                   message="the fake never sent the late answer")
        for n in range(3):
            response = conn.execute_command({"method": "A.next", "params": {"n": n}}, timeout=5)
            assert response["result"]["params"] == {"n": n}
        assert conn.connected is True
        assert len(fake_cdp.conns) == 1


# -- send --------------------------------------------------------------------------------


def test_send_returns_only_result(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        assert conn.send("A.b", {"x": 1}) == {"method": "A.b", "params": {"x": 1}}
        assert conn.send("A.c")["method"] == "A.c"
    assert fake_cdp.received_methods() == ["A.b", "A.c"]


def test_send_raises_command_error_with_cdp_fields(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        with pytest.raises(exceptions.CommandError) as info:
            conn.send("Test.error")
        error = info.value
        assert error.code == -32000
        assert error.message == "boom"
        assert error.data == "extra"
        assert error.method == "Test.error"
        assert "Test.error" in str(error) and "boom" in str(error)
        # the connection is fine afterwards
        assert conn.send("A.b")["method"] == "A.b"


def test_send_timeout_raises_command_timeout(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        start = time.monotonic()
        with pytest.raises(exceptions.CommandTimeoutError) as info:
            conn.send("Test.noAnswer", timeout=0.2)
        assert time.monotonic() - start < 2.0
        assert info.value.method == "Test.noAnswer"


# -- submit ------------------------------------------------------------------------------


def test_submit_returns_future_of_full_response(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        future = conn.submit({"method": "A.b", "params": {"i": 1}})
        assert isinstance(future, concurrent.futures.Future)
        response = future.result(timeout=5)
    assert response["result"] == {"method": "A.b", "params": {"i": 1}}
    assert response["id"] == fake_cdp.received[-1]["id"]


def test_submit_pipelines_commands(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        slow = conn.submit({"method": "Test.sleep", "params": {"seconds": 3}})
        fast = [conn.submit({"method": "A.b", "params": {"i": i}}) for i in range(200)]
        # every fast answer arrives while the slow command is still pending
        for i, future in enumerate(fast):
            assert future.result(timeout=2.5)["result"]["params"] == {"i": i}
        assert not slow.done()
        assert slow.result(timeout=10)["result"] == {"slept": 3}
    wire_ids = [message["id"] for message in fake_cdp.received]
    assert len(set(wire_ids)) == 201
