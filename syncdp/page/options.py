"""The options a :class:`~syncdp.browser.Browser` is made with, checked before anything
connects or launches: endpoint, headers, dialog policy, connect timeout, and the tab mode
(with its deprecated name ``transport``)."""

from __future__ import annotations

import inspect
import os
import re
import warnings
from typing import Dict, Mapping, Optional
from urllib.parse import urlsplit

from syncdp._checks import check_seconds
from syncdp.exceptions import InvalidCommand
from syncdp.page.dialogs import DIALOG_POLICIES

__all__ = [
    "TAB_MODES",
    "TRANSPORTS",
    "check_endpoint",
    "check_headers",
    "check_options",
    "check_transport_mode",
    "resolve_pipe",
    "resolve_tab_mode",
    "warn_deprecated",
]

TAB_MODES = ("sessions", "sockets")
"""How tabs reach the browser: flattened sessions on its one websocket, or a socket each."""
DEFAULT_TAB_MODE = "sessions"
"""Chosen by bench/bench_tabs.py (see the README); ``SYNCDP_TAB_MODE`` overrides it."""

TRANSPORTS = TAB_MODES  # deprecated name (until 0.2): "transport" now means the wire
DEFAULT_TRANSPORT = DEFAULT_TAB_MODE  # deprecated name (until 0.2)

_ENDPOINT_SCHEMES = ("ws", "wss", "http", "https")
# An HTTP header name is an RFC 9110 token.
_HEADER_NAME = re.compile(r"\A[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


def check_endpoint(endpoint: object) -> None:
    """``InvalidCommand`` unless ``endpoint`` is a TCP port or a ws/wss/http/https URL."""
    if isinstance(endpoint, int) and not isinstance(endpoint, bool):
        if 0 < endpoint < 65536:
            return
        raise InvalidCommand("endpoint %r is not a TCP port (1-65535)" % (endpoint,))
    if isinstance(endpoint, str) and (
        (endpoint.isdigit() and 0 < int(endpoint) < 65536)
        or (urlsplit(endpoint).scheme in _ENDPOINT_SCHEMES and "//" in endpoint)
    ):
        return
    raise InvalidCommand(
        "endpoint must be a DevTools port number or a ws://, wss://, http:// or https:// "
        "URL, got %r" % (endpoint,)
    )


def check_headers(headers: object) -> Optional[Dict[str, str]]:
    """A copy of ``headers`` (``None`` when empty); ``InvalidCommand`` for anything but a
    mapping of header names to ``str`` values, or for line breaks (header injection)."""
    if headers is None:
        return None
    if not isinstance(headers, Mapping):
        raise InvalidCommand(
            "headers must be a dict of header names to values, such as "
            "{'Authorization': 'Bearer ...'}, got %r" % (headers,)
        )
    checked: Dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise InvalidCommand("headers: %r is not a valid header name" % (name,))
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise InvalidCommand(
                "headers[%r] must be a str without line breaks, got %r" % (name, value)
            )
        checked[name] = value
    return checked or None


def warn_deprecated(message: str) -> None:
    """A ``DeprecationWarning`` blamed on the first caller outside the syncdp package."""
    frame = inspect.currentframe()
    level = 1
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("syncdp"):
        frame = frame.f_back
        level += 1
    del frame
    warnings.warn(message, DeprecationWarning, stacklevel=level)


def resolve_tab_mode(tab_mode: Optional[str], transport: Optional[str]) -> str:
    """``tab_mode``, or the deprecated ``transport=``, or the environment, or the default."""
    if transport is not None:
        warn_deprecated(
            "transport=%r is deprecated and will be removed in 0.2: use tab_mode=%r "
            "(\"transport\" now means the wire: websocket, pipe, replay)" % (transport, transport)
        )
        if tab_mode is not None and tab_mode != transport:
            raise InvalidCommand(
                "tab_mode=%r and the deprecated transport=%r disagree: pass tab_mode only"
                % (tab_mode, transport)
            )
        tab_mode = transport
    source = "tab_mode"
    if tab_mode is None and os.environ.get("SYNCDP_TAB_MODE"):
        tab_mode, source = os.environ["SYNCDP_TAB_MODE"], "the SYNCDP_TAB_MODE environment variable"
    if tab_mode is None and os.environ.get("SYNCDP_TRANSPORT"):
        warn_deprecated(
            "the SYNCDP_TRANSPORT environment variable is deprecated and will be ignored from "
            "0.2: set SYNCDP_TAB_MODE instead"
        )
        tab_mode, source = os.environ["SYNCDP_TRANSPORT"], "the SYNCDP_TRANSPORT environment variable"
    tab_mode = tab_mode or DEFAULT_TAB_MODE
    if tab_mode not in TAB_MODES:
        raise InvalidCommand("%s must be one of %s, got %r" % (source, TAB_MODES, tab_mode))
    return tab_mode


def check_options(dialog_policy: object, connect_timeout: object) -> None:
    """Check the options :class:`Browser` and :class:`Chrome` share."""
    if dialog_policy not in DIALOG_POLICIES:
        raise InvalidCommand(
            "dialog_policy must be None, 'accept' or 'dismiss', got %r" % (dialog_policy,)
        )
    check_seconds(connect_timeout, "connect_timeout")


def check_transport_mode(endpoint: object, tab_mode: str) -> None:
    """A browser on ``open_transport`` has no endpoint and only one wire for its tabs."""
    if endpoint is not None:
        raise InvalidCommand(
            "give endpoint or open_transport, not both (got endpoint=%r)" % (endpoint,)
        )
    if tab_mode != "sessions":
        raise InvalidCommand(
            "tab_mode=%r needs a DevTools port (each tab its own websocket); a browser on "
            "one wire (a pipe) has its tabs as sessions: use tab_mode='sessions'" % (tab_mode,)
        )


def resolve_pipe(pipe: object, tab_mode: str) -> bool:
    """``Chrome(pipe=...)``, or with ``None`` the ``SYNCDP_PIPE`` environment variable
    (``1``/``0``; it only applies with the sessions tab mode, the one a pipe can serve).

    Raises:
        InvalidCommand: not a bool, a bad ``SYNCDP_PIPE``, or ``pipe=True`` with sockets.
    """
    if pipe is None:
        value = os.environ.get("SYNCDP_PIPE", "").strip().lower()
        if value not in ("", "0", "1", "false", "true", "no", "yes"):
            raise InvalidCommand(
                "the SYNCDP_PIPE environment variable must be 1 or 0, got %r" % (value,)
            )
        return value in ("1", "true", "yes") and tab_mode == "sessions"
    if not isinstance(pipe, bool):
        raise InvalidCommand("pipe must be True or False, got %r" % (pipe,))
    if pipe:
        check_transport_mode(None, tab_mode)
    return pipe
