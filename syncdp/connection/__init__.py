"""The connection layer: one websocket to one CDP target, blocking API, two threads."""

from __future__ import annotations

from syncdp.connection.commands import CommandManager
from syncdp.connection.events import EventsHandler
from syncdp.connection.handler import DISCONNECTED_EVENT, ConnectionHandler, EventExpectation

__all__ = [
    "ConnectionHandler",
    "CommandManager",
    "EventsHandler",
    "EventExpectation",
    "DISCONNECTED_EVENT",
]
