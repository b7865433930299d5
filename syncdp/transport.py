"""The old home of the websocket code, kept importable: see :mod:`syncdp.transports`."""

from __future__ import annotations

from syncdp.transports.base import redact_url
from syncdp.transports.websocket import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    FrameReader,
    PeerClosed,
    connect_websocket,
    encode_text_frame,
)

__all__ = [
    "connect_websocket",
    "encode_text_frame",
    "FrameReader",
    "PeerClosed",
    "redact_url",
    "OPCODE_TEXT",
    "OPCODE_BINARY",
    "OPCODE_CLOSE",
    "OPCODE_PING",
    "OPCODE_PONG",
]
