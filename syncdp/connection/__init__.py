"""The connection layer: one transport to one CDP target, blocking API, two threads.

Public: :class:`ConnectionHandler`, :class:`Session`, :class:`EventExpectation`, the
synthetic event names :data:`DISCONNECTED_EVENT` and :data:`ATTACHED_EVENT`, and
:func:`run_coroutine` (the one runner for coroutine callbacks, for layers that run user
callbacks on threads of their own).
"""

from __future__ import annotations

from syncdp.connection.coroutines import run_coroutine
from syncdp.connection.events import EventExpectation
from syncdp.connection.handler import ATTACHED_EVENT, DISCONNECTED_EVENT, ConnectionHandler
from syncdp.connection.session import Session

__all__ = [
    "ConnectionHandler",
    "Session",
    "ATTACHED_EVENT",
    "EventExpectation",
    "DISCONNECTED_EVENT",
    "run_coroutine",
]
