"""The connection layer: one websocket to one CDP target, blocking API, two threads."""

from __future__ import annotations

from syncdp.connection.commands import CommandManager
from syncdp.connection.endpoint import EventExpectation
from syncdp.connection.events import EventsHandler
from syncdp.connection.handler import ATTACHED_EVENT, DISCONNECTED_EVENT, ConnectionHandler
from syncdp.connection.session import Session

__all__ = [
    "ConnectionHandler",
    "Session",
    "ATTACHED_EVENT",
    "CommandManager",
    "EventsHandler",
    "EventExpectation",
    "DISCONNECTED_EVENT",
]
