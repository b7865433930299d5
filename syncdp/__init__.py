"""syncdp: a thread-based, synchronous client for the Chrome DevTools Protocol."""

from __future__ import annotations

import logging

from syncdp import exceptions
from syncdp.connection import ConnectionHandler
from syncdp.exceptions import (
    BrowserLaunchError,
    BrowserNotFoundError,
    CommandError,
    CommandTimeoutError,
    ConnectFailedError,
    ConnectionClosedError,
    EventTimeoutError,
    InvalidCommand,
    SyncdpConnectionError,
    SyncdpError,
    TargetClosedError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "exceptions",
    "ConnectionHandler",
    "SyncdpError",
    "InvalidCommand",
    "CommandError",
    "TargetClosedError",
    "CommandTimeoutError",
    "EventTimeoutError",
    "SyncdpConnectionError",
    "ConnectFailedError",
    "ConnectionClosedError",
    "BrowserNotFoundError",
    "BrowserLaunchError",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
