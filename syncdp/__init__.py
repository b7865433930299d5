"""syncdp: a thread-based, synchronous client for the Chrome DevTools Protocol.

Blocking calls, no event loop: for scripts, notebooks and threaded code::

    from syncdp import Chrome

    with Chrome() as browser:
        tab = browser.get_page()
        tab.go_to("http://127.0.0.1:8000/")
        title = tab.execute_script("return document.title")
"""

import logging as _logging

from syncdp import exceptions
from syncdp.browser import Browser, Chrome, connect
from syncdp.connection import (
    ATTACHED_EVENT,
    DISCONNECTED_EVENT,
    ConnectionHandler,
    EventExpectation,
    Session,
)
from syncdp.element import Element
from syncdp.exceptions import (
    BrowserLaunchError,
    BrowserNotFoundError,
    CommandError,
    CommandTimeoutError,
    ConnectFailedError,
    ConnectionClosedError,
    DialogOpenError,
    DiscoveryError,
    ElementNotFoundError,
    EventTimeoutError,
    ExecutionContextDestroyedError,
    InvalidCommand,
    JavaScriptError,
    JavaScriptValueError,
    NavigationError,
    ReplayMismatchError,
    StaleElementError,
    SyncdpConnectionError,
    SyncdpError,
    TargetClosedError,
    TargetCrashedError,
)
from syncdp.page.console import ConsoleMessage
from syncdp.page.frames import Frame
from syncdp.page.interception import Request, Route
from syncdp.screenshot import Pdf, Screenshot
from syncdp.tab import Tab

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "exceptions",
    "Browser",
    "Chrome",
    "connect",
    "Tab",
    "Element",
    "Frame",
    "ConsoleMessage",
    "Route",
    "Request",
    "Screenshot",
    "Pdf",
    "ConnectionHandler",
    "Session",
    "ATTACHED_EVENT",
    "EventExpectation",
    "DISCONNECTED_EVENT",
    "SyncdpError",
    "InvalidCommand",
    "CommandError",
    "TargetClosedError",
    "TargetCrashedError",
    "CommandTimeoutError",
    "EventTimeoutError",
    "SyncdpConnectionError",
    "ConnectFailedError",
    "ConnectionClosedError",
    "DiscoveryError",
    "BrowserNotFoundError",
    "BrowserLaunchError",
    "NavigationError",
    "JavaScriptError",
    "JavaScriptValueError",
    "ExecutionContextDestroyedError",
    "ElementNotFoundError",
    "StaleElementError",
    "DialogOpenError",
    "ReplayMismatchError",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
