"""Wire shapes (TypedDicts) and the Protocols for injectable pieces."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, TypedDict, Union

__all__ = [
    "Command",
    "Response",
    "ErrorBody",
    "Event",
    "Transport",
    "TransportOpener",
    "WebSocketLike",
    "WsConnector",
    "WsAddressResolver",
    "Callback",
]


# NotRequired needs 3.11: optional members live in total=False bases instead.


class _ErrorBodyOptional(TypedDict, total=False):
    data: Any


class ErrorBody(_ErrorBodyOptional):
    """The ``error`` member of a CDP error response."""

    code: int
    message: str


class _CommandOptional(TypedDict, total=False):
    params: Dict[str, Any]
    sessionId: str


class Command(_CommandOptional):
    """A CDP command as sent on the wire."""

    id: int
    method: str


class _ResponseOptional(TypedDict, total=False):
    result: Dict[str, Any]
    error: ErrorBody
    sessionId: str


class Response(_ResponseOptional):
    """A CDP command response: ``result`` on success, ``error`` on failure."""

    id: int


class _EventOptional(TypedDict, total=False):
    params: Dict[str, Any]
    sessionId: str


class Event(_EventOptional):
    """A CDP event notification."""

    method: str


class Transport(Protocol):
    """The wire under a connection, as small as puppeteer's ``ConnectionTransport``.

    JSON text messages both ways, nothing else: the connection never knows which wire it
    runs on (a websocket, a pipe, a recording). Implementations live in
    :mod:`syncdp.transports`. A transport may also offer ``ping(timeout) -> bool`` (a cheap
    liveness probe below CDP); without it ``ping()`` sends a command.
    """

    def send(self, message: str) -> None:
        """Send one message; any thread (the transport serializes whole messages)."""

    def receive(self) -> List[Union[str, bytes]]:
        """Block for the next messages (at least one; UTF-8 bytes or str), in wire order.

        Only the connection's reader thread calls it. Returning several messages read in one
        go (a batch) is what keeps many small messages per syscall cheap.

        Raises:
            syncdp.transports.TransportClosed: the wire ended (``code``, ``reason``,
                ``detail`` say how); every later call raises too.
        """

    def close(self) -> None:
        """Ask the peer to end the connection (a close frame); ``receive`` then raises."""

    def abort(self) -> None:
        """Wake a ``receive`` blocked in another thread at once; any thread, idempotent."""


TransportOpener = Callable[[], Transport]
"""A zero-argument callable that returns an open :class:`Transport` (``open_transport=``).

It replaces HTTP discovery and the websocket handshake (a pipe, a recording). The connection
calls it on connect and again for every reconnection; one that cannot open its wire again
raises a ``ConnectionClosedError`` subclass saying why. A transport's ``label`` attribute, if
it has one, names it in logs and in ``ConnectionHandler.ws_url``.
"""


class WebSocketLike(Protocol):
    """What syncdp needs from a connected websocket (websocket-client's ``WebSocket``).

    ``recv`` is only ever called from the reader thread; ``send`` may be called from any
    thread but syncdp serializes the calls.
    """

    def send(self, payload: str) -> Any:
        """Send one text frame."""

    def recv(self) -> Union[str, bytes]:
        """Block for the next data frame."""

    def close(self) -> None:
        """Close the connection."""


class WsConnector(Protocol):
    """Opens a websocket: ``ws_connector(url, timeout=...)``, plus ``headers=...`` when the
    connection has handshake headers. Returns a connected :class:`WebSocketLike`
    (websocket-client's ``create_connection`` fits)."""

    def __call__(
        self, url: str, *, timeout: float, headers: Optional[Mapping[str, str]] = None
    ) -> Any:
        """Return a connected :class:`WebSocketLike`."""


WsAddressResolver = Callable[[int], str]
"""Maps a DevTools port to the browser's websocket URL (pydoll's ``ws_address_resolver``)."""

Callback = Callable[[Dict[str, Any]], Any]
"""An event callback: receives the whole event message; may be a coroutine function."""
