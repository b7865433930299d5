"""The argument checks every layer shares: timeouts, seconds, text, paths, flags.

Each raises :class:`~syncdp.exceptions.InvalidCommand` naming the argument, before anything
is sent or started. One home, so that ``timeout=``, ``connect_timeout=``, ``start_timeout=``
and the path arguments of the launcher, the captures and the CLI are refused alike.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional
from urllib.parse import urlsplit

from syncdp.discovery import is_loopback
from syncdp.exceptions import InvalidCommand

__all__ = ["check_bool", "check_optional_path", "check_path", "check_seconds", "check_text", "check_timeout"]


def check_timeout(
    timeout: Any, what: str = "timeout", *, allow_none: bool = True, allow_zero: bool = False
) -> Optional[float]:
    """``timeout`` as a float, or ``None`` (no limit) when allowed.

    Raises:
        InvalidCommand: not a finite number (bools and strings included), negative, zero
            where zero is not allowed, or ``None`` where a limit is required.
    """
    if timeout is None and allow_none:
        return None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout < 0
        or (timeout == 0 and not allow_zero)
    ):
        expected = "a non-negative" if allow_zero else "a positive"
        raise InvalidCommand(
            "%s must be %s number of seconds%s, got %r"
            % (what, expected, " or None" if allow_none else "", timeout)
        )
    return float(timeout)


def check_seconds(value: object, name: str) -> float:
    """``value`` as a float if it is a positive, finite number of seconds (a limit is required).

    Raises:
        InvalidCommand: anything else (``bool``, NaN, infinity, ``None`` included).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not value > 0
    ):
        raise InvalidCommand("%s must be a positive number of seconds, got %r" % (name, value))
    return float(value)


def check_text(value: object, name: str, what: str) -> str:
    """``value`` if it is a non-empty ``str`` without NUL; ``what`` says what was expected.

    Raises:
        InvalidCommand: anything else; the message names ``name``.
    """
    if not isinstance(value, str) or not value or "\0" in value:
        raise InvalidCommand("%s must be %s, got %r" % (name, what, value))
    return value


def check_path(value: object, name: str = "path") -> str:
    """``value`` as a ``str`` path: a non-empty ``str`` or ``os.PathLike`` without NUL.

    ``open()`` also takes an int as a file descriptor (``True`` is 1: stdout); a path argument
    never means that here.

    Raises:
        InvalidCommand: anything else (an int, a bool, bytes, ``None``, ``""``...).
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value or "\0" in value:
        raise InvalidCommand(
            "%s must be a str or os.PathLike file path, got %r (%s)" % (name, value, type(value).__name__)
        )
    return value


def check_optional_path(value: object, name: str) -> Optional[str]:
    """:func:`check_path`, with ``None`` allowed (and returned)."""
    return None if value is None else check_path(value, name)


def check_bool(value: object, name: str) -> None:
    """Raises :class:`InvalidCommand` naming ``name`` unless ``value`` is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise InvalidCommand("%s must be True or False, got %r" % (name, value))


def with_likely_scheme(url: str) -> str:
    """``url`` (which has no scheme) with the one it most likely lacks, for an error message.

    ``http`` for this machine (``localhost``, ``127.x``, ``::1``, ``0.0.0.0``: a development
    server rarely has TLS), ``https`` for every other host. "localhost:8000/x" and
    "example.org/x" both read as a host, port and path.
    """
    bare = url.lstrip("/")
    host = urlsplit("//" + bare).hostname or ""
    local = host == "0.0.0.0" or (bool(host) and is_loopback(host))
    return "%s://%s" % ("http" if local else "https", bare)
