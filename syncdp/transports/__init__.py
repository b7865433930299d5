"""The wires a connection can run on, behind one small seam (:class:`syncdp._types.Transport`).

:mod:`syncdp.transports.websocket` is the DevTools websocket (handshake, frame codec); a pipe
(``--remote-debugging-pipe``) or a recording replay are further implementations of the same
four members: ``send``, ``receive``, ``close``, ``abort``.
"""

from __future__ import annotations

from syncdp._types import Transport
from syncdp.transports.base import TransportClosed, redact_url
from syncdp.transports.pipe import PipeOpener, PipeTransport
from syncdp.transports.websocket import (
    WebSocketClientTransport,
    WebSocketTransport,
    as_transport,
    connect_websocket,
)

__all__ = [
    "PipeOpener",
    "PipeTransport",
    "Transport",
    "TransportClosed",
    "WebSocketClientTransport",
    "WebSocketTransport",
    "as_transport",
    "connect_websocket",
    "redact_url",
]
