"""Remote-browser behaviour on the fake CDP endpoint: the URL's query string (a gateway's
token) kept for HTTP discovery and out of logs and reprs, refused credentials, the endpoint's
own address kept over the one ``/json/version`` reports, the heartbeat (``ping_interval``)
against a peer that goes silent, and argument checks.

A silent peer is made by :class:`Relay`: a loopback TCP relay in front of the fake endpoint
that can swallow every byte in both directions without closing anything, as a link that
went down without a FIN does. The real thing (a veth set down between network namespaces,
real Chromium) is in ``tests/integration/test_remote.py``.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Iterator, List

import pytest
from fake_cdp import FakeCDP, wait_until

import syncdp
from syncdp import ConnectionHandler
from syncdp.exceptions import ConnectFailedError, ConnectionClosedError, InvalidCommand

TOKEN = "s3cret-T0KEN"


class Relay:
    """A loopback TCP relay to ``target``; :meth:`blackhole` swallows traffic both ways."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self.swallowing = threading.Event()
        self._stopped = threading.Event()
        self._sockets: List[socket.socket] = []
        self._threads: List[threading.Thread] = []
        self._lock = threading.Lock()
        self._start(self._accept_loop)

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name="test-relay", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target, timeout=5)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            self._start(self._pump, client, upstream)
            self._start(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if not self.swallowing.is_set():
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def blackhole(self) -> None:
        """From now on every byte is dropped, in both directions; nothing is closed."""
        self.swallowing.set()

    def restore(self) -> None:
        self.swallowing.clear()

    def close(self) -> None:
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in threads:
            thread.join(5)


@pytest.fixture
def relay(fake_cdp: FakeCDP) -> Iterator[Relay]:
    relay = Relay(fake_cdp.port)
    try:
        yield relay
    finally:
        relay.close()


class TokenCDP(FakeCDP):
    """A fake endpoint behind a gateway: every request needs ``?token=TOKEN`` (HTTP 401)."""

    def _process_request(self, connection: Any, request: Any) -> Any:
        if "token=" + TOKEN not in request.path:
            return connection.respond(401, "token required\n")
        return super()._process_request(connection, request)


class MisreportingCDP(FakeCDP):
    """``/json/version`` names another host and port, as Chromium behind a port mapping does."""

    @property
    def ws_url(self) -> str:
        return "ws://192.0.2.1:1/devtools/browser/fake-browser"


# -- discovery: query strings, credentials, addresses -------------------------------------------


def test_http_endpoint_sends_its_query_string_to_json_version_and_the_websocket() -> None:
    with TokenCDP() as fake:
        with ConnectionHandler("http://127.0.0.1:%d/?token=%s" % (fake.port, TOKEN)) as conn:
            assert conn.send("Browser.getVersion") == {"method": "Browser.getVersion", "params": {}}
            assert fake.http_requests[0][0] == "/json/version?token=" + TOKEN
            assert fake.conns[0].path.endswith("?token=" + TOKEN)


def test_protocol_download_sends_the_query_string_too() -> None:
    with TokenCDP() as fake:
        with ConnectionHandler("http://127.0.0.1:%d/?token=%s" % (fake.port, TOKEN)) as conn:
            assert conn.cdp.Browser.getVersion()["method"] == "Browser.getVersion"
            paths = [path for path, _ in fake.http_requests]
    assert "/json/version?token=" + TOKEN in paths
    assert all(path.endswith("?token=" + TOKEN) for path in paths), paths


def test_refused_token_raises_connect_failed_naming_the_http_status() -> None:
    with TokenCDP() as fake:
        with ConnectionHandler("http://127.0.0.1:%d/?token=wrong" % fake.port) as conn:
            with pytest.raises(ConnectFailedError) as info:
                conn.connect()
    assert "HTTP 401" in str(info.value)
    assert "wrong" not in str(info.value)


def test_query_string_stays_out_of_logs_reprs_and_errors(
    caplog: pytest.LogCaptureFixture, dead_port: int
) -> None:
    caplog.set_level(logging.DEBUG)  # syncdp's, requests' and urllib3's debug logs
    with TokenCDP() as fake:
        browser = syncdp.connect("http://127.0.0.1:%d/?token=%s" % (fake.port, TOKEN))
        try:
            browser.version()
            reprs = repr(browser) + repr(browser.connection)
        finally:
            browser.stop()
    with ConnectionHandler("http://127.0.0.1:%d/?token=%s" % (dead_port, TOKEN)) as conn:
        with pytest.raises(ConnectFailedError) as info:
            conn.connect()
    # The client side's records (the fake server's own "websockets" logger is not ours).
    client_log = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith("websockets")
    )
    assert "/json/version?<redacted>" in client_log  # urllib3 logged the request, masked
    assert TOKEN not in client_log
    assert TOKEN not in reprs
    assert TOKEN not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_http_endpoint_keeps_its_own_address_over_the_one_json_version_reports() -> None:
    with MisreportingCDP() as fake:
        with ConnectionHandler("http://127.0.0.1:%d" % fake.port) as conn:
            conn.connect()
            assert conn.ws_url == "ws://127.0.0.1:%d/devtools/browser/fake-browser" % fake.port


# -- heartbeat ------------------------------------------------------------------------------------


def test_heartbeat_fails_pending_commands_when_the_peer_goes_silent(relay: Relay) -> None:
    url = "http://127.0.0.1:%d" % relay.port
    with ConnectionHandler(url, ping_interval=0.5) as conn:
        conn.connect()
        pending = conn.submit({"method": "Test.noAnswer"})
        relay.blackhole()
        with pytest.raises(ConnectionClosedError) as info:
            pending.result(timeout=30)  # far beyond 2 x ping_interval: the heartbeat fails it
        assert "ping" in str(info.value)
        relay.restore()
        assert conn.send("Browser.getVersion")["method"] == "Browser.getVersion"  # reconnected
        assert conn.connection_count == 2


def test_heartbeat_keeps_a_quiet_healthy_connection(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port, ping_interval=0.2) as conn:
        # Nothing comes in for many intervals; the pongs keep the connection up.
        assert conn.send("Test.sleep", {"seconds": 1.5}, timeout=30) == {"slept": 1.5}
        assert conn.connection_count == 1


def test_without_heartbeat_a_silent_peer_is_noticed_only_by_the_command_timeout(relay: Relay) -> None:
    # A loopback URL: the default is no heartbeat (a dead local browser closes its socket).
    with ConnectionHandler("http://127.0.0.1:%d" % relay.port) as conn:
        conn.connect()
        relay.blackhole()
        with pytest.raises(syncdp.CommandTimeoutError):
            conn.send("Browser.getVersion", timeout=1.5)
        assert conn.connected


def test_heartbeat_answers_an_explicit_ping_and_fails_it_when_silent(relay: Relay) -> None:
    with ConnectionHandler("http://127.0.0.1:%d" % relay.port, ping_interval=1) as conn:
        assert conn.ping(timeout=10) is True
        relay.blackhole()
        assert conn.ping(timeout=0.5) is False
        wait_until(lambda: not conn.connected, timeout=30, message="the heartbeat never fired")


# -- arguments --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, True, "5", float("nan"), float("inf")])
def test_bad_ping_interval_is_refused_naming_it(value: Any) -> None:
    with pytest.raises(InvalidCommand, match="ping_interval"):
        ConnectionHandler("http://127.0.0.1:9", ping_interval=value)


def test_bad_tls_arguments_are_refused_naming_them(tmp_path: Any) -> None:
    import ssl

    with pytest.raises(InvalidCommand, match="ca_file"):
        ConnectionHandler("https://127.0.0.1:9", ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(InvalidCommand, match="ssl_context"):
        ConnectionHandler("https://127.0.0.1:9", ssl_context="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand, match="not both"):
        syncdp.connect(
            "https://127.0.0.1:9", ca_file="x.pem", ssl_context=ssl.create_default_context()
        )
