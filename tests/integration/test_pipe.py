"""CDP over ``--remote-debugging-pipe`` (``Chrome(pipe=True)``) and the ``open_transport``
seam it runs on: a browser connection on an already-open wire, with no HTTP discovery."""

from __future__ import annotations

from typing import Any, List

import pytest
from fake_cdp import FakeCDP

from syncdp import Browser, ConnectionHandler, InvalidCommand
from syncdp._types import Transport
from syncdp.transports import as_transport, connect_websocket

pytestmark = pytest.mark.timeout(120)


# -- the open_transport seam (fake endpoint: no browser needed) ------------------------------


def _opener(fake_cdp: FakeCDP, opened: List[Transport]) -> Any:
    def open_transport() -> Transport:
        transport = as_transport(connect_websocket(fake_cdp.ws_url, timeout=5))
        opened.append(transport)
        return transport

    return open_transport


def test_a_handler_on_open_transport_sends_commands_without_http_discovery(fake_cdp: FakeCDP) -> None:
    opened: List[Transport] = []
    with ConnectionHandler(None, open_transport=_opener(fake_cdp, opened)) as conn:
        assert conn.send("A.b", {"x": 1}) == {"method": "A.b", "params": {"x": 1}}
        assert conn.ws_url == type(opened[0]).__name__  # no URL: the transport's name
    assert len(opened) == 1
    assert fake_cdp.http_requests == []  # neither /json/version nor /json/protocol


def test_cdp_on_open_transport_asks_browser_get_version_not_http(fake_cdp: FakeCDP) -> None:
    opened: List[Transport] = []
    with ConnectionHandler(None, open_transport=_opener(fake_cdp, opened)) as conn:
        conn.cdp.Target.getTargets()
        methods = [message["method"] for message in fake_cdp.received]
    assert methods == ["Browser.getVersion", "Target.getTargets"]
    assert fake_cdp.http_requests == []


def test_open_transport_and_a_port_together_are_refused(fake_cdp: FakeCDP) -> None:
    with pytest.raises(InvalidCommand, match="connection_port or open_transport, not both"):
        ConnectionHandler(fake_cdp.port, open_transport=_opener(fake_cdp, []))
    with pytest.raises(InvalidCommand, match="open_transport must be a callable"):
        ConnectionHandler(None, open_transport="pipe")  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand, match="connection_port must be"):
        ConnectionHandler(None)


def test_a_browser_on_open_transport_refuses_tab_mode_sockets(fake_cdp: FakeCDP) -> None:
    with pytest.raises(InvalidCommand, match="tab_mode='sockets' needs a DevTools port"):
        Browser(None, open_transport=_opener(fake_cdp, []), tab_mode="sockets")
    with pytest.raises(InvalidCommand, match="endpoint or open_transport, not both"):
        Browser(fake_cdp.port, open_transport=_opener(fake_cdp, []))
    with Browser(None, open_transport=_opener(fake_cdp, [])) as browser:
        assert browser.send("Browser.getVersion")["method"] == "Browser.getVersion"
    assert fake_cdp.http_requests == []
