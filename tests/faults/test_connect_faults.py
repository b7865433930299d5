"""Faults while connecting, and what a connection logs.

Scenarios 8 (handshake refused), 9 (listeners that stall or hang up), 24 (bad discovery,
bogus proxy variables) and the logging side of the security checks: auth tokens never
logged, one warning for a non-loopback browser.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, List

import pytest
from fake_cdp import FakeCDP
from faultkit import Listener, http_response, non_loopback_ipv4

import syncdp
from syncdp import ConnectFailedError, ConnectionClosedError, ConnectionHandler, DiscoveryError

FAST = 1.0


# -- 8. handshake refused ----------------------------------------------------------------------

REFUSED = http_response(
    "403 Forbidden",
    b"Rejected an incoming WebSocket connection from the http://evil.example origin. Use the "
    b"command line flag --remote-allow-origins=http://evil.example to allow connections.",
    "text/plain",
)


@pytest.mark.scenario("8", "handshake refused with HTTP 403: says why and what to do")
@pytest.mark.timeout(30)
def test_handshake_refused_with_403_explains_itself(figure: Any) -> None:
    with Listener("respond", REFUSED) as server:
        conn = ConnectionHandler("ws://127.0.0.1:%d/devtools/browser/x" % server.port)
        start = time.monotonic()
        with pytest.raises(ConnectFailedError) as info:
            conn.connect()
        elapsed = time.monotonic() - start
        conn.close()
    figure.time_to_fail(elapsed)
    error = info.value
    text = str(error)
    assert error.host == "127.0.0.1" and error.port == server.port
    assert "403" in text  # why
    assert "Origin" in text and "--remote-allow-origins" in text  # what to do
    assert elapsed < FAST
    assert not conn.connected


@pytest.mark.scenario("8", "Origin check: default connector accepted, an Origin header refused")
@pytest.mark.timeout(30)
def test_origin_checking_endpoint(fake_cdp: FakeCDP) -> None:
    fake_cdp.reject_origin = True  # like Chromium without --remote-allow-origins
    with ConnectionHandler(fake_cdp.ws_url) as conn:
        assert conn.send("A.b") == {"method": "A.b", "params": {}}
    assert "origin" not in fake_cdp.conns[0].headers
    refused = ConnectionHandler(fake_cdp.ws_url, headers={"Origin": "http://evil.example"})
    with pytest.raises(ConnectFailedError) as info:
        refused.connect()
    refused.close()
    assert "403" in str(info.value) and "--remote-allow-origins" in str(info.value)


# -- 9. listeners that stall or hang up --------------------------------------------------------


@pytest.mark.scenario("9", "listener that never completes the handshake / accepts and closes")
@pytest.mark.parametrize("mode", ["silent", "hangup"])
@pytest.mark.parametrize("endpoint", ["ws", "port"])
@pytest.mark.timeout(30)
def test_stalling_or_hanging_up_listener_fails_without_hanging(
    mode: str, endpoint: str, figure: Any
) -> None:
    timeout = 0.5
    with Listener(mode) as server:
        target: Any = (
            "ws://127.0.0.1:%d/devtools/browser/x" % server.port
            if endpoint == "ws"
            else server.port  # HTTP discovery first
        )
        conn = ConnectionHandler(target, connect_timeout=timeout)
        start = time.monotonic()
        with pytest.raises(ConnectFailedError) as info:
            conn.execute_command({"method": "A.b"}, timeout=30)
        elapsed = time.monotonic() - start
        conn.close()
        assert server.accepted >= 1  # the TCP connection itself was accepted
    figure.time_to_fail(elapsed)
    if mode == "silent":
        # the connect timeout, not the command's 30 s
        assert timeout <= elapsed < timeout + FAST, elapsed
        assert "%g" % timeout in str(info.value)
    else:
        assert elapsed < FAST, elapsed


# -- 24. discovery -----------------------------------------------------------------------------


@pytest.mark.scenario("24", "/json/version 404 or without webSocketDebuggerUrl: DiscoveryError")
@pytest.mark.parametrize(
    "answer, expected",
    [
        (http_response("404 Not Found", b"Unknown path", "text/plain"), "HTTP 404"),
        (http_response("200 OK", json.dumps({"Browser": "Other/1.0"}).encode()),
         "no webSocketDebuggerUrl"),
        (http_response("200 OK", b"<html>not json</html>", "text/html"), "did not return JSON"),
    ],
    ids=["404", "missing-field", "not-json"],
)
@pytest.mark.timeout(30)
def test_broken_discovery_raises_a_clear_discovery_error(
    answer: bytes, expected: str, figure: Any
) -> None:
    with Listener("respond", answer) as server:
        conn = ConnectionHandler(server.port)
        start = time.monotonic()
        with pytest.raises(DiscoveryError) as info:
            conn.connect()
        elapsed = time.monotonic() - start
        conn.close()
        assert server.requests and server.requests[0].startswith(b"GET /json/version ")
    figure.time_to_fail(elapsed)
    assert expected in str(info.value) and "/json/version" in str(info.value)
    assert elapsed < FAST


PROXY_VARS = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]


@pytest.mark.scenario("24", "bogus HTTP_PROXY/http_proxy: loopback still connects directly")
@pytest.mark.timeout(30)
def test_bogus_proxy_variables_do_not_affect_loopback(
    fake_cdp: FakeCDP, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_answer = http_response("502 Bad Gateway", b"bogus proxy", "text/plain")
    with Listener("respond", proxy_answer) as proxy:
        for name in PROXY_VARS:
            monkeypatch.setenv(name, "http://127.0.0.1:%d" % proxy.port)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        for target in (fake_cdp.port, "http://127.0.0.1:%d" % fake_cdp.port, fake_cdp.ws_url,
                       "http://localhost:%d" % fake_cdp.port):
            with ConnectionHandler(target) as conn:
                assert conn.send("A.b", {"t": str(target)}) == {
                    "method": "A.b", "params": {"t": str(target)}
                }
        assert proxy.accepted == 0, proxy.requests
    assert len(fake_cdp.http_requests) == 3  # the three discovery lookups came straight here


# -- security: secrets in logs -----------------------------------------------------------------

SECRETS = ("SECRET123", "SECRET456")
SERVER_SIDE = ("websockets", "tests.fake_cdp")  # the fake endpoint's own logs, not syncdp's


def _leaks(records: List[logging.LogRecord]) -> List[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    leaks = []
    for record in records:
        if record.name.split(".")[0] in SERVER_SIDE or record.name.startswith(SERVER_SIDE):
            continue
        text = formatter.format(record)
        if any(secret in text for secret in SECRETS):
            leaks.append(text[:300])
    return leaks


@pytest.mark.scenario("sec", "auth tokens (URL query, headers) never in logs, any level")
@pytest.mark.timeout(60)
def test_tokens_never_appear_in_logs(
    fake_cdp: FakeCDP, caplog: pytest.LogCaptureFixture, dead_port: int
) -> None:
    for name in (None, "syncdp", "syncdp.wire", "websocket", "urllib3", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    headers = {"Authorization": "Bearer SECRET456"}
    targets = [
        "ws://127.0.0.1:%d/devtools/browser/fake-browser?token=SECRET123" % fake_cdp.port,
        "http://127.0.0.1:%d/?token=SECRET123" % fake_cdp.port,
    ]
    for target in targets:
        conn = ConnectionHandler(target, headers=headers)
        assert conn.send("A.b", {"x": 1}) == {"method": "A.b", "params": {"x": 1}}
        with pytest.raises(ConnectionClosedError):
            conn.execute_command({"method": "Test.drop"}, timeout=10)  # drop ...
        assert conn.send("A.c") == {"method": "A.c", "params": {}}  # ... and reconnect
        conn.cdp.Browser.getVersion()  # typed access: loads the protocol over HTTP
        assert not any(secret in repr(conn) for secret in SECRETS)
        conn.close()
    # The Browser layer on top of the same URL and headers.
    browser = syncdp.connect(targets[0], headers=headers)
    browser.version()
    browser.stop()
    # A connection that fails, too.
    failing = ConnectionHandler(
        "ws://127.0.0.1:%d/devtools/browser/x?token=SECRET123" % dead_port, headers=headers
    )
    with pytest.raises(ConnectFailedError):
        failing.connect()
    failing.close()
    # The secrets did travel (so the check below means something) ...
    assert all("token=SECRET123" in c.path for c in fake_cdp.conns) and len(fake_cdp.conns) == 5
    assert all(c.headers.get("authorization") == "Bearer SECRET456" for c in fake_cdp.conns)
    assert any(r.name.startswith("syncdp") and r.levelno == logging.DEBUG for r in caplog.records)
    # ... and no record of syncdp, websocket-client, requests or urllib3 shows them.
    assert _leaks(caplog.records) == []


# -- security: non-loopback warning ------------------------------------------------------------


_ADDRESS = non_loopback_ipv4()


@pytest.mark.scenario("sec", "non-loopback browser: works, one 'no authentication' warning")
@pytest.mark.skipif(_ADDRESS is None, reason="this machine has no non-loopback IPv4 address")
@pytest.mark.timeout(30)
def test_non_loopback_browser_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    class RemoteFake(FakeCDP):
        host = str(_ADDRESS)

    caplog.set_level(logging.WARNING, logger="syncdp")

    def auth_warnings() -> List[logging.LogRecord]:
        return [r for r in caplog.records if "no authentication" in r.getMessage()]

    peers: List[Any] = []

    def handler(fake_conn: Any, message: Any) -> Any:
        peers.append(fake_conn.ws.remote_address[0])
        return FakeCDP.echo(fake_conn, message)

    with RemoteFake(handler) as fake:
        with ConnectionHandler(fake.ws_url) as conn:
            assert conn.send("A.b") == {"method": "A.b", "params": {}}
            with pytest.raises(ConnectionClosedError):
                conn.execute_command({"method": "Test.drop"}, timeout=10)
            assert conn.send("A.c") == {"method": "A.c", "params": {}}  # reconnected
            assert conn.connection_count == 2
        assert peers == [_ADDRESS, _ADDRESS]  # really over the non-loopback interface
        warned = auth_warnings()
        assert len(warned) == 1, [r.getMessage() for r in warned]
        assert warned[0].levelno == logging.WARNING and str(_ADDRESS) in warned[0].getMessage()
        # A loopback connection does not warn.
        with FakeCDP() as local, ConnectionHandler(local.ws_url) as conn:
            conn.send("A.b")
        assert len(auth_warnings()) == 1
